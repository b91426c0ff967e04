#include "maps/kernel_state.h"

#include <algorithm>

namespace socklb {

namespace {

// Inserts or assigns; counts a new key.
template <typename Map, typename Key, typename Value>
void set(Map& map, const Key& key, const Value& value, std::size_t& count) {
  if (map.insert_or_assign(key, value).second) ++count;
}

template <typename Map, typename Key>
void drop(Map& map, const Key& key, std::size_t& count) {
  if (map.erase(key)) --count;
}

}  // namespace

void KernelState::put(MapId map, ByteView key, ByteView value) {
  if (describe(map).kind == MapKind::Array && all_zero(value)) {
    erase(map, key);
    return;
  }
  std::size_t& count = entries[static_cast<std::size_t>(map)];
  switch (map) {
    case MapId::AddrsV4:
    case MapId::AddrsV6: set(addrs, decode_addr_key(map, key), from_bytes<socklb_addr_value>(value), count); break;
    case MapId::ServicesV4:
    case MapId::ServicesV6:
      set(services, decode_service_key(map, key), from_bytes<socklb_service_ref>(value).id, count);
      break;
    case MapId::ServiceState: set(states, from_bytes<uint32_t>(key), from_bytes<socklb_service_state>(value), count); break;
    case MapId::Slots: set(slots, decode_slot_key(key), from_bytes<socklb_slot_value>(value).backend_id, count); break;
    case MapId::Backends: {
      auto id = from_bytes<uint32_t>(key);
      auto backend = from_bytes<socklb_backend>(value);
      backend.lock = {};  // the lock word is the kernel's
      auto old = backends.find(id);
      if (old != backends.end() && old->second.service_id == backend.service_id) {
        old->second = backend;
        break;
      }
      if (old != backends.end()) erase(map, key);
      set(backends, id, backend, count);
      backends_by_service[backend.service_id].push_back(id);
      break;
    }
    case MapId::Reverse: set(reverse, decode_reverse_key(key), from_bytes<socklb_reverse_value>(value), count); break;
    case MapId::ServiceNames: set(names, from_bytes<uint32_t>(key), from_bytes<socklb_service_name>(value), count); break;
    case MapId::Affinity:
    case MapId::SockFlows:
    case MapId::SockPeers:
    case MapId::ServiceCounters:
    case MapId::Totals: break;  // written by the programs, not part of what the agent plans
  }
}

void KernelState::erase(MapId map, ByteView key) {
  std::size_t& count = entries[static_cast<std::size_t>(map)];
  switch (map) {
    case MapId::AddrsV4:
    case MapId::AddrsV6: drop(addrs, decode_addr_key(map, key), count); break;
    case MapId::ServicesV4:
    case MapId::ServicesV6: drop(services, decode_service_key(map, key), count); break;
    case MapId::ServiceState: drop(states, from_bytes<uint32_t>(key), count); break;
    case MapId::Slots: drop(slots, decode_slot_key(key), count); break;
    case MapId::Backends: {
      auto id = from_bytes<uint32_t>(key);
      auto old = backends.find(id);
      if (old == backends.end()) break;
      auto list = backends_by_service.find(old->second.service_id);
      if (list != backends_by_service.end()) {
        std::erase(list->second, id);
        if (list->second.empty()) backends_by_service.erase(list);
      }
      backends.erase(old);
      --count;
      break;
    }
    case MapId::Reverse: drop(reverse, decode_reverse_key(key), count); break;
    case MapId::ServiceNames: drop(names, from_bytes<uint32_t>(key), count); break;
    case MapId::Affinity:
    case MapId::SockFlows:
    case MapId::SockPeers:
    case MapId::ServiceCounters:
    case MapId::Totals: break;
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
