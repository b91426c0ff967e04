#include "datapath/kernel_state.h"

namespace socklb {

void KernelState::put(MapId map, ByteView key, ByteView value) {
  if (describe(map).kind == MapKind::Array && all_zero(value)) {
    erase(map, key);
    return;
  }
  switch (map) {
    case MapId::AddrsV4:
    case MapId::AddrsV6: addrs[decode_addr_key(map, key)] = from_bytes<socklb_addr_value>(value); break;
    case MapId::ServicesV4:
    case MapId::ServicesV6: services[decode_service_key(map, key)] = from_bytes<socklb_service_ref>(value).id; break;
    case MapId::ServiceState: states[from_bytes<uint32_t>(key)] = from_bytes<socklb_service_state>(value); break;
    case MapId::Slots: slots[decode_slot_key(key)] = from_bytes<socklb_slot_value>(value).backend_id; break;
    case MapId::Backends: {
      auto backend = from_bytes<socklb_backend>(value);
      backend.lock = {};  // the lock word is the kernel's
      backends[from_bytes<uint32_t>(key)] = backend;
      break;
    }
    case MapId::Reverse: reverse[decode_reverse_key(key)] = from_bytes<socklb_reverse_value>(value); break;
    case MapId::ServiceNames: names[from_bytes<uint32_t>(key)] = from_bytes<socklb_service_name>(value); break;
    case MapId::Affinity:
    case MapId::SockFlows:
    case MapId::SockPeers: break;  // written by the programs, not part of what the agent plans
  }
}

void KernelState::erase(MapId map, ByteView key) {
  switch (map) {
    case MapId::AddrsV4:
    case MapId::AddrsV6: addrs.erase(decode_addr_key(map, key)); break;
    case MapId::ServicesV4:
    case MapId::ServicesV6: services.erase(decode_service_key(map, key)); break;
    case MapId::ServiceState: states.erase(from_bytes<uint32_t>(key)); break;
    case MapId::Slots: slots.erase(decode_slot_key(key)); break;
    case MapId::Backends: backends.erase(from_bytes<uint32_t>(key)); break;
    case MapId::Reverse: reverse.erase(decode_reverse_key(key)); break;
    case MapId::ServiceNames: names.erase(from_bytes<uint32_t>(key)); break;
    case MapId::Affinity:
    case MapId::SockFlows:
    case MapId::SockPeers: break;
  }
}

const socklb_service_state* KernelState::served(const ServiceKey& key) const {
  auto ref = services.find(key);
  if (ref == services.end()) return nullptr;
  auto state = states.find(ref->second);
  if (state == states.end() || !(state_key(state->second) == key)) return nullptr;
  return &state->second;
}

ServiceRef KernelState::owner(uint32_t service_id) const {
  auto it = names.find(service_id);
  if (it == names.end()) return {};
  return {name_field(it->second.ns, sizeof(it->second.ns)), name_field(it->second.name, sizeof(it->second.name))};
}

std::map<ServiceKey, ServiceRef> KernelState::owners() const {
  std::map<ServiceKey, ServiceRef> out;
  for (const auto& [key, id] : services) out[key] = owner(id);
  return out;
}

std::optional<std::vector<uint32_t>> KernelState::live_backend_ids(const socklb_service_state& state) const {
  if (backends_inline(state.backend_count))
    return std::vector<uint32_t>(state.backend_ids, state.backend_ids + state.backend_count);
  // a slot set is contiguous in the map's order: one search, then a walk
  std::vector<uint32_t> ids;
  ids.reserve(state.backend_count);
  auto it = slots.lower_bound({state.id, state.revision, 0});
  for (uint16_t i = 0; i < state.backend_count; ++i, ++it) {
    if (it == slots.end() || !(it->first == SlotRef{state.id, state.revision, i})) return std::nullopt;
    ids.push_back(it->second);
  }
  return ids;
}

KernelState read_kernel_state(const MapStore& store) {
  KernelState state;
  for (const auto& m : kMaps) {
    if (m.written_by_programs) continue;
    for (const auto& [key, value] : store.dump(m.id)) state.put(m.id, key, value);
  }
  return state;
}

}  // namespace socklb
