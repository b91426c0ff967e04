#pragma once

#include <functional>

#include "maps/map_store.h"
#include "plan/plan.h"

namespace socklb {

// Lets the caller see the phases go by without apply_plan() knowing who it
// is: the agent's fault point (agent/fault_point.h) pauses the process there
// so a test can kill it at an exact phase. Must not write the maps.
struct ApplyObserver {
  // Just before phase 1..4 starts, whether or not the plan has steps in it.
  std::function<void(int phase, const Plan& plan)> before_phase;
};

// The removals of a plan (phase 4) and its affinity purges, kept apart
// when they are applied later than the rest (the agent: after a grace
// period that overlaps its next change instead of delaying this one).
struct Removals {
  Plan plan;  // only its phase-4 steps and purge_affinity are set
  bool empty() const { return plan.steps.empty() && plan.purge_affinity.empty(); }
  std::size_t entries() const { return plan.writes(); }
  // whether anything in them can be in use by a connect in flight
  bool wait_for_readers() const { return plan.waits_for_readers(); }
};
// Moves a plan's removals out of it: what is left is phases 1-3.
Removals take_removals(Plan& plan);

// Phases 1-3 of a plan: afterwards every service serves its new state.
// Nothing is removed, so no connect in flight can miss anything.
void apply_serving_phases(const Plan& plan, MapStore& store, const ApplyObserver& observer = {});
// Phase 4. Only once every program run that started before the serving
// phases were done has ended (MapStore::wait_for_readers).
void apply_removals(const Removals& removals, MapStore& store, const ApplyObserver& observer = {});
// Phase 4 in place: waits for the programs in flight, if the removals need
// it, then applies them.
void wait_and_apply_removals(const Removals& removals, MapStore& store, const ApplyObserver& observer = {});

// Writes a plan in its phase order, waiting for the programs in flight
// before the removals. The one place that changes the maps. Throws
// std::runtime_error when a write fails; what was written before keeps every
// service whole (see plan.cpp). Takes a copy: the caller's plan stays whole.
void apply_plan(Plan plan, MapStore& store, const ApplyObserver& observer = {});

}  // namespace socklb
