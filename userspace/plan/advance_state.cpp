#include "plan/advance_state.h"

#include <algorithm>

namespace socklb {

namespace {

// the same steps in the same order as apply_plan(), through the same decoder as the read-back
void advance(KernelState& state, const PlanStep& step) {
  for (std::size_t i = 0; i < step.count; ++i) {
    if (step.op == PlanOp::Write) state.put(step.map, step.key(i), step.value(i));
    else state.erase(step.map, step.key(i));
  }
}

}  // namespace

void advance_state(KernelState& state, const Plan& plan) {
  for (const auto& step : plan.steps) advance(state, step);
}

void advance_state(KernelState& state, std::vector<PlanStep>&& steps) {
  for (auto& step : steps) {
    advance(state, step);
    step = PlanStep{};
  }
  steps.clear();
}

namespace {

// The map structs are C types outside this namespace: std::map's == cannot
// find their operator== by lookup, so compare entry by entry here.
template <typename Map>
bool same_entries(const Map& a, const Map& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const auto& x, const auto& y) { return x.first == y.first && x.second == y.second; });
}

}  // namespace

bool operator==(const KernelState& a, const KernelState& b) {
  return a.services == b.services && same_entries(a.states, b.states) && same_entries(a.names, b.names) &&
         a.slots == b.slots && same_entries(a.backends, b.backends) && same_entries(a.addrs, b.addrs) &&
         same_entries(a.reverse, b.reverse);
}

}  // namespace socklb
