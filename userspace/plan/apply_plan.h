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

// Writes a plan in its phase order, waiting for the programs in flight
// before the removals. The one place that changes the maps. Throws
// std::runtime_error when a write fails; what was written before keeps every
// service whole (see plan.cpp).
void apply_plan(const Plan& plan, MapStore& store, const ApplyObserver& observer = {});

}  // namespace socklb
