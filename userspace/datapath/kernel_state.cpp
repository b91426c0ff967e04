#include "datapath/kernel_state.h"

#include <arpa/inet.h>

#include <algorithm>

namespace socklb {
namespace {

template <typename Value>
void decode_map(const MapStore& store, MapId id, std::map<uint32_t, Value>& into) {
  for (const auto& [k, v] : store.dump(id)) into[from_bytes<uint32_t>(k)] = from_bytes<Value>(v);
}

void copy_name(char* dst, std::size_t size, const std::string& src) {
  std::memset(dst, 0, size);
  std::memcpy(dst, src.data(), std::min(src.size(), size - 1));
}

}  // namespace

std::string name_field(const char* field, std::size_t size) { return std::string(field, strnlen(field, size)); }

bool operator==(const socklb_service_name& a, const socklb_service_name& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }
bool operator==(const socklb_service_value& a, const socklb_service_value& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }
bool operator==(const socklb_backend& a, const socklb_backend& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

std::pair<MapId, Bytes> encode_service_key(const ServiceKey& key) {
  if (key.vip.is_v4()) {
    socklb_service4_key k{key.vip.v4(), htons(key.port), static_cast<uint8_t>(key.protocol), 0};
    return {MapId::ServicesV4, to_bytes(k)};
  }
  socklb_service6_key k{};
  key.vip.to_words(k.vip);
  k.port = htons(key.port);
  k.proto = static_cast<uint8_t>(key.protocol);
  return {MapId::ServicesV6, to_bytes(k)};
}

std::pair<MapId, Bytes> encode_vip_key(const IpAddress& vip) {
  if (vip.is_v4()) return {MapId::VipsV4, to_bytes(socklb_vip4_key{vip.v4()})};
  socklb_vip6_key k{};
  vip.to_words(k.addr);
  return {MapId::VipsV6, to_bytes(k)};
}

socklb_backend encode_backend(const Backend& backend, uint32_t service_id) {
  socklb_backend value{};
  backend.ip.to_words(value.addr);
  value.port = htons(backend.port);
  value.family = backend.ip.is_v4() ? SOCKLB_FAMILY_V4 : SOCKLB_FAMILY_V6;
  value.state = static_cast<uint8_t>(backend.state);
  value.service_id = service_id;
  return value;
}

Backend decode_backend(const socklb_backend& value) {
  return {IpAddress::from_words(value.addr), ntohs(value.port), static_cast<BackendState>(value.state)};
}

socklb_service_name encode_name(const ServiceRef& ref, const std::string& port_name) {
  socklb_service_name value;
  copy_name(value.ns, sizeof(value.ns), ref.ns);
  copy_name(value.name, sizeof(value.name), ref.name);
  copy_name(value.port_name, sizeof(value.port_name), port_name);
  return value;
}

ServiceRef KernelState::owner(uint32_t service_id) const {
  auto it = names.find(service_id);
  if (it == names.end()) return {};
  return {name_field(it->second.ns, sizeof(it->second.ns)), name_field(it->second.name, sizeof(it->second.name))};
}

std::map<ServiceKey, ServiceRef> KernelState::owners() const {
  std::map<ServiceKey, ServiceRef> out;
  for (const auto& [key, value] : services) out[key] = owner(value.id);
  return out;
}

std::optional<std::vector<uint32_t>> KernelState::live_backend_ids(const socklb_service_value& service) const {
  // a slot set is contiguous in the map's order: one search, then a walk
  std::vector<uint32_t> ids;
  ids.reserve(service.backend_count);
  auto it = slots.lower_bound({service.id, service.revision, 0});
  for (uint16_t i = 0; i < service.backend_count; ++i, ++it) {
    if (it == slots.end() || !(it->first == SlotRef{service.id, service.revision, i})) return std::nullopt;
    ids.push_back(it->second);
  }
  return ids;
}

KernelState read_kernel_state(const MapStore& store) {
  KernelState state;
  for (const auto& [k, v] : store.dump(MapId::ServicesV4)) {
    auto key = from_bytes<socklb_service4_key>(k);
    state.services[{IpAddress::from_v4(key.vip), ntohs(key.port), static_cast<Protocol>(key.proto)}] =
        from_bytes<socklb_service_value>(v);
  }
  for (const auto& [k, v] : store.dump(MapId::ServicesV6)) {
    auto key = from_bytes<socklb_service6_key>(k);
    state.services[{IpAddress::from_words(key.vip), ntohs(key.port), static_cast<Protocol>(key.proto)}] =
        from_bytes<socklb_service_value>(v);
  }
  decode_map(store, MapId::ServiceNames, state.names);
  decode_map(store, MapId::Backends, state.backends);
  for (const auto& [k, v] : store.dump(MapId::Slots)) {
    auto key = from_bytes<socklb_slot_key>(k);
    state.slots[{key.service_id, key.revision, key.index}] = from_bytes<socklb_slot_value>(v).backend_id;
  }
  for (const auto& [k, v] : store.dump(MapId::VipsV4))
    state.vips[IpAddress::from_v4(from_bytes<socklb_vip4_key>(k).addr)] = from_bytes<socklb_vip_value>(v).port_count;
  for (const auto& [k, v] : store.dump(MapId::VipsV6))
    state.vips[IpAddress::from_words(from_bytes<socklb_vip6_key>(k).addr)] = from_bytes<socklb_vip_value>(v).port_count;
  return state;
}

}  // namespace socklb
