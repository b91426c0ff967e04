#pragma once
// What the kernel holds once a plan has been applied, computed from the plan
// instead of read back from the maps. The syncer keeps it between syncs, so a
// sync after one endpoint change does not decode every map again.

#include "maps/kernel_state.h"
#include "plan/plan.h"

namespace socklb {

// `state` is what the plan was made against; afterwards it is what
// apply_plan() left in the maps (the maps the programs write are not part of it).
void advance_state(KernelState& state, const Plan& plan);
// The same, freeing each step's buffers once it is in `state`: a first
// install's plan is hundreds of MB at 100,000 services, and the state it
// builds as large, so the two are not held whole at once.
void advance_state(KernelState& state, std::vector<PlanStep>&& steps);

bool operator==(const KernelState& a, const KernelState& b);

}  // namespace socklb
