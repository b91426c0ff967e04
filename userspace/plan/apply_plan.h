#pragma once

#include "datapath/map_store.h"
#include "plan/plan.h"

namespace socklb {

// Writes a plan in its phase order, waiting for the programs in flight
// before the removals. The one place that changes the maps. Throws
// std::runtime_error when a write fails; what was written before keeps every
// service whole (see plan.cpp).
void apply_plan(const Plan& plan, MapStore& store);

}  // namespace socklb
