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

namespace {

void apply_steps(const std::vector<PlanStep>& steps, std::size_t& i, int phase, MapStore& store) {
  for (; i < steps.size() && steps[i].phase == phase; ++i) {
    const PlanStep& step = steps[i];
    spdlog::debug("apply: {} {} entries {}", step.op == PlanOp::Write ? "writing" : "removing", step.count,
                  describe(step.map).name);
    if (step.op == PlanOp::Write) store.update_packed(step.map, step.keys, step.values, step.count);
    else store.remove_packed(step.map, step.keys, step.count);
  }
}

}  // namespace

void apply_serving_phases(const Plan& plan, MapStore& store, const ApplyObserver& observer) {
  std::size_t i = 0;
  for (int phase = 1; phase <= 3; ++phase) {
    if (observer.before_phase) observer.before_phase(phase, plan);
    spdlog::debug("apply phase {}", phase);
    if (phase == 1) reset_counters(plan.new_service_ids, store);
    apply_steps(plan.steps, i, phase, store);
  }
}

void apply_removals(const Removals& removals, MapStore& store, const ApplyObserver& observer) {
  if (observer.before_phase) observer.before_phase(4, removals.plan);
  spdlog::debug("apply phase 4");
  std::size_t i = 0;
  apply_steps(removals.plan.steps, i, 4, store);
  purge_affinity(removals.plan.purge_affinity, store);
}

Removals take_removals(Plan& plan) {
  Removals r;
  auto first = std::find_if(plan.steps.begin(), plan.steps.end(), [](const PlanStep& s) { return s.phase == 4; });
  r.plan.steps.assign(std::make_move_iterator(first), std::make_move_iterator(plan.steps.end()));
  plan.steps.erase(first, plan.steps.end());
  r.plan.purge_affinity = std::move(plan.purge_affinity);
  plan.purge_affinity.clear();
  return r;
}

void wait_and_apply_removals(const Removals& removals, MapStore& store, const ApplyObserver& observer) {
  if (removals.wait_for_readers()) {
    // a connect that read a service before its flip may still use its old
    // slot set, backends and id: none of it goes while such a connect runs
    spdlog::debug("apply: waiting for the programs in flight before the removals");
    store.wait_for_readers();
  }
  apply_removals(removals, store, observer);
}

void apply_plan(Plan plan, MapStore& store, const ApplyObserver& observer) {
  apply_serving_phases(plan, store, observer);
  wait_and_apply_removals(take_removals(plan), store, observer);
}

}  // namespace socklb
