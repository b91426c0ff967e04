#include "plan/apply_plan.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace socklb {
namespace {

void purge_affinity(const std::vector<uint32_t>& service_ids, MapStore& store) {
  if (service_ids.empty()) return;
  std::vector<Bytes> stale;
  for (const auto& [key, value] : store.dump(MapId::Affinity)) {
    auto k = from_bytes<socklb_affinity_key>(key);
    if (std::find(service_ids.begin(), service_ids.end(), k.service_id) != service_ids.end()) stale.push_back(key);
  }
  if (!stale.empty()) store.remove(MapId::Affinity, stale);
}

// A new service starts from zero, whatever the id counted for before.
void reset_counters(const std::vector<uint32_t>& service_ids, MapStore& store) {
  if (service_ids.empty()) return;
  MapEntries zeros;
  zeros.reserve(service_ids.size());
  for (uint32_t id : service_ids) zeros.emplace_back(to_bytes(id), to_bytes(socklb_service_counters{}));
  store.update(MapId::ServiceCounters, zeros);
}

}  // namespace

void apply_plan(const Plan& plan, MapStore& store, const ApplyObserver& observer) {
  std::size_t i = 0;
  for (int phase = 1; phase <= 4; ++phase) {
    if (observer.before_phase) observer.before_phase(phase, plan);
    spdlog::debug("apply phase {}", phase);
    if (phase == 1) reset_counters(plan.new_service_ids, store);
    if (phase == 4 && i < plan.steps.size()) {
      // a connect that read a service before its flip may still use its old
      // slot set, backends and id: none of it goes while such a connect runs
      spdlog::debug("apply: waiting for the programs in flight before the removals");
      store.wait_for_readers();
    }
    for (; i < plan.steps.size() && plan.steps[i].phase == phase; ++i) {
      const PlanStep& step = plan.steps[i];
      spdlog::debug("apply: {} {} entries {}", step.op == PlanOp::Write ? "writing" : "removing", step.count,
                    describe(step.map).name);
      if (step.op == PlanOp::Write) store.update_packed(step.map, step.keys, step.values, step.count);
      else store.remove_packed(step.map, step.keys, step.count);
    }
  }
  purge_affinity(plan.purge_affinity, store);
}

}  // namespace socklb
