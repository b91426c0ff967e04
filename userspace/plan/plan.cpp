#include "plan/plan.h"

#include "plan/plan_builder.h"

namespace socklb {
namespace {

// The update protocol (docs/datapath.md). Writes first, each phase only
// referring to entries an earlier one made: 1. names, pod addresses, reverse
// entries and backends, which nothing points at yet; 2. the new slot sets of
// large services, under the revision each does not read; 3. the service
// states (the flip: count, revision and a small service's backends at once),
// then the ClusterIP entries and keys that make new services reachable, and
// the removal of the keys and ClusterIP entries no service serves any more
// (they only refer: a connect that read one before has its service id, and
// what the id names stays). Then, once no connect can still be reading what
// the writes replaced: 4. the removal of what was referred to, and of pod
// addresses' entries (they mark sockets that dial a pod itself, and go with
// the pod's reverse entries).
constexpr std::array<std::array<MapId, 5>, 3> kWriteOrder = {{
    {MapId::ServiceNames, MapId::AddrsV4, MapId::AddrsV6, MapId::Reverse, MapId::Backends},
    {MapId::Slots, MapId::Slots, MapId::Slots, MapId::Slots, MapId::Slots},
    {MapId::ServiceState, MapId::AddrsV4, MapId::AddrsV6, MapId::ServicesV4, MapId::ServicesV6},
}};
constexpr std::array kRemoveOrder = {MapId::ServicesV4, MapId::ServicesV6, MapId::AddrsV4, MapId::AddrsV6,
                                     MapId::ServiceState, MapId::Slots, MapId::Backends, MapId::ServiceNames,
                                     MapId::Reverse};

int default_phase(MapId map) {
  if (map == MapId::Slots) return 2;
  if (map == MapId::ServiceState || map == MapId::ServicesV4 || map == MapId::ServicesV6) return 3;
  return 1;
}

// A service key only refers to its id; an addrs entry may be a ClusterIP's
// (refers, phase 3: the caller says so) or a pod address's, which marks
// sockets that dial the pod itself and goes with its reverse entries.
int removal_phase(MapId map) { return map == MapId::ServicesV4 || map == MapId::ServicesV6 ? 3 : 4; }

}  // namespace

ByteView PlanStep::key(std::size_t i) const {
  std::size_t size = describe(map).key_size;
  return ByteView(keys).subspan(i * size, size);
}

ByteView PlanStep::value(std::size_t i) const {
  std::size_t size = describe(map).value_size;
  return ByteView(values).subspan(i * size, size);
}

std::size_t Plan::writes() const {
  std::size_t n = purge_affinity.size();
  for (const auto& step : steps) n += step.count;
  return n;
}

void PlanBuilder::write(MapId map, ByteView key, ByteView value, int phase) {
  if (phase == 0) phase = default_phase(map);
  append(writes_[phase - 1][index(map)], map, PlanOp::Write, phase, key, value);
}

void PlanBuilder::remove(MapId map, ByteView key, int phase) {
  if (phase == 0) phase = removal_phase(map);
  append(removes_[phase - 3][index(map)], map, PlanOp::Remove, phase, key, {});
}

void PlanBuilder::reserve_writes(MapId map, std::size_t entries) {
  PlanStep& step = writes_[default_phase(map) - 1][index(map)];
  const MapDescriptor& m = describe(map);
  step.keys.reserve(step.keys.size() + entries * m.key_size);
  step.values.reserve(step.values.size() + entries * m.value_size);
}

Plan PlanBuilder::finish(Plan plan) {
  plan.steps.clear();
  auto take = [&](PlanStep& step) {
    if (step.count) plan.steps.push_back(std::move(step));
    step = PlanStep{};
  };
  for (std::size_t phase = 0; phase < kWriteOrder.size(); ++phase)
    for (MapId map : kWriteOrder[phase]) take(writes_[phase][index(map)]);
  for (auto& phase : removes_)
    for (MapId map : kRemoveOrder) take(phase[index(map)]);
  return plan;
}

}  // namespace socklb
