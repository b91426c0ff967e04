#include "plan/advance_state.h"

#include <algorithm>

namespace socklb {

void advance_state(KernelState& state, const Plan& plan) {
  // the same phases as apply_plan(): writes, then removals
  for (const auto& [id, name] : plan.write_names) state.names[id] = name;
  for (const auto& [vip, value] : plan.write_vips) state.vips[vip] = value.port_count;
  for (const auto& [id, backend] : plan.write_backends) state.backends[id] = backend;
  for (const auto& [slot, backend_id] : plan.write_slots) state.slots[slot] = backend_id;
  for (const auto& [key, value] : plan.write_services) state.services[key] = value;
  for (const auto& key : plan.delete_services) state.services.erase(key);
  for (const auto& slot : plan.delete_slots) state.slots.erase(slot);
  for (const auto& id : plan.delete_backends) state.backends.erase(id);
  for (const auto& id : plan.delete_names) state.names.erase(id);
  for (const auto& vip : plan.delete_vips) state.vips.erase(vip);
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
  return same_entries(a.services, b.services) && same_entries(a.names, b.names) && a.slots == b.slots &&
         same_entries(a.backends, b.backends) && a.vips == b.vips;
}

}  // namespace socklb
