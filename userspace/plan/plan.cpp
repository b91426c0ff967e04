#include "plan/plan.h"

#include "plan/plan_builder.h"

namespace socklb {
namespace {

struct StepOrder {
  MapId map;
  PlanOp op;
};

// The update protocol (docs/datapath.md). Writes first, each phase only
// referring to entries an earlier one made: 1. names, addresses, reverse
// entries and backends, which nothing points at yet; 2. the new slot sets,
// under the revision each service does not read; 3. the service states (the
// flip: count and revision at once), then the keys of new services, which
// make them reachable. Then, once no connect can still be reading what the
// writes replaced: 4. removals, referrers first.
constexpr std::array kOrder = {
    StepOrder{MapId::ServiceNames, PlanOp::Write}, StepOrder{MapId::AddrsV4, PlanOp::Write},
    StepOrder{MapId::AddrsV6, PlanOp::Write},      StepOrder{MapId::Reverse, PlanOp::Write},
    StepOrder{MapId::Backends, PlanOp::Write},     StepOrder{MapId::Slots, PlanOp::Write},
    StepOrder{MapId::ServiceState, PlanOp::Write}, StepOrder{MapId::ServicesV4, PlanOp::Write},
    StepOrder{MapId::ServicesV6, PlanOp::Write},
    // --- wait for readers ---
    StepOrder{MapId::ServicesV4, PlanOp::Remove},  StepOrder{MapId::ServicesV6, PlanOp::Remove},
    StepOrder{MapId::ServiceState, PlanOp::Remove}, StepOrder{MapId::Slots, PlanOp::Remove},
    StepOrder{MapId::Backends, PlanOp::Remove},    StepOrder{MapId::ServiceNames, PlanOp::Remove},
    StepOrder{MapId::AddrsV4, PlanOp::Remove},     StepOrder{MapId::AddrsV6, PlanOp::Remove},
    StepOrder{MapId::Reverse, PlanOp::Remove},
};

}  // namespace

ByteView PlanStep::key(std::size_t i) const {
  std::size_t size = describe(map).key_size;
  return ByteView(keys).subspan(i * size, size);
}

ByteView PlanStep::value(std::size_t i) const {
  std::size_t size = describe(map).value_size;
  return ByteView(values).subspan(i * size, size);
}

int PlanStep::phase() const {
  if (op == PlanOp::Remove) return 4;
  if (map == MapId::Slots) return 2;
  if (map == MapId::ServiceState || map == MapId::ServicesV4 || map == MapId::ServicesV6) return 3;
  return 1;
}

std::size_t Plan::writes() const {
  std::size_t n = purge_affinity.size();
  for (const auto& step : steps) n += step.count;
  return n;
}

Plan PlanBuilder::finish(Plan plan) {
  plan.steps.clear();
  for (const auto& [map, op] : kOrder) {
    PlanStep& step = (op == PlanOp::Write ? writes_ : removes_)[index(map)];
    if (step.count) plan.steps.push_back(std::move(step));
    step = PlanStep{};
  }
  return plan;
}

}  // namespace socklb
