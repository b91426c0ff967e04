#include "maps/map_codec.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace socklb {
namespace {

void copy_name(char* dst, std::size_t size, const std::string& src) {
  std::memset(dst, 0, size);
  std::memcpy(dst, src.data(), std::min(src.size(), size - 1));
}

template <typename T>
bool same_bytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

uint8_t kernel_state(BackendState state) {
  switch (state) {
    case BackendState::Active: return SOCKLB_BACKEND_ACTIVE;
    case BackendState::Terminating: return SOCKLB_BACKEND_TERMINATING;
    case BackendState::Serving: return SOCKLB_BACKEND_SERVING;
    case BackendState::Listed: break;
  }
  throw std::logic_error("a listed endpoint that does not serve has no backend entry");
}

}  // namespace

std::string name_field(const char* field, std::size_t size) { return std::string(field, strnlen(field, size)); }

bool operator==(const socklb_service_name& a, const socklb_service_name& b) { return same_bytes(a, b); }
bool operator==(const socklb_service_state& a, const socklb_service_state& b) { return same_bytes(a, b); }
bool operator==(const socklb_backend& a, const socklb_backend& b) { return same_bytes(a, b); }
bool operator==(const socklb_addr_value& a, const socklb_addr_value& b) { return same_bytes(a, b); }
bool operator==(const socklb_reverse_value& a, const socklb_reverse_value& b) { return same_bytes(a, b); }

namespace {

template <typename T>
MapKey map_key(MapId map, const T& key) {
  static_assert(sizeof(T) <= sizeof(MapKey::bytes));
  MapKey out{map};
  std::memcpy(out.bytes.data(), &key, sizeof(T));
  out.size = sizeof(T);
  return out;
}

}  // namespace

MapKey service_key_of(const ServiceKey& key) {
  if (key.vip.is_v4())
    return map_key(MapId::ServicesV4,
                   socklb_service4_key{key.vip.v4(), htons(key.port), static_cast<uint8_t>(key.protocol), 0});
  socklb_service6_key k{};
  key.vip.to_words(k.vip);
  k.port = htons(key.port);
  k.proto = static_cast<uint8_t>(key.protocol);
  return map_key(MapId::ServicesV6, k);
}

std::pair<MapId, Bytes> encode_service_key(const ServiceKey& key) {
  MapKey k = service_key_of(key);
  return {k.map, Bytes(k.view().begin(), k.view().end())};
}

ServiceKey decode_service_key(MapId map, ByteView key) {
  if (map == MapId::ServicesV4) {
    auto k = from_bytes<socklb_service4_key>(key);
    return {IpAddress::from_v4(k.vip), ntohs(k.port), static_cast<Protocol>(k.proto)};
  }
  auto k = from_bytes<socklb_service6_key>(key);
  return {IpAddress::from_words(k.vip), ntohs(k.port), static_cast<Protocol>(k.proto)};
}

MapKey addr_key_of(const IpAddress& ip) {
  if (ip.is_v4()) return map_key(MapId::AddrsV4, socklb_addr4_key{ip.v4()});
  socklb_addr6_key k{};
  ip.to_words(k.addr);
  return map_key(MapId::AddrsV6, k);
}

std::pair<MapId, Bytes> encode_addr_key(const IpAddress& ip) {
  MapKey k = addr_key_of(ip);
  return {k.map, Bytes(k.view().begin(), k.view().end())};
}

IpAddress decode_addr_key(MapId map, ByteView key) {
  if (map == MapId::AddrsV4) return IpAddress::from_v4(from_bytes<socklb_addr4_key>(key).addr);
  return IpAddress::from_words(from_bytes<socklb_addr6_key>(key).addr);
}

socklb_reverse_key reverse_key_of(const ReverseKey& key) {
  socklb_reverse_key k{};
  key.ip.to_words(k.addr);
  k.port = htons(key.port);
  k.proto = static_cast<uint8_t>(key.protocol);
  return k;
}

Bytes encode_reverse_key(const ReverseKey& key) { return to_bytes(reverse_key_of(key)); }

ReverseKey decode_reverse_key(ByteView key) {
  auto k = from_bytes<socklb_reverse_key>(key);
  return {IpAddress::from_words(k.addr), ntohs(k.port), static_cast<Protocol>(k.proto)};
}

socklb_slot_key slot_key_of(const SlotRef& slot) { return {slot.service_id, slot.index, slot.revision, 0}; }

Bytes encode_slot_key(const SlotRef& slot) { return to_bytes(slot_key_of(slot)); }

SlotRef decode_slot_key(ByteView key) {
  auto k = from_bytes<socklb_slot_key>(key);
  return {k.service_id, k.revision, k.index};
}

bool backends_inline(uint16_t backend_count) { return backend_count <= SOCKLB_BACKENDS_INLINE; }

socklb_service_state encode_state(uint32_t id, const ServiceKey& key, const ServiceShape& shape,
                                  const std::vector<uint32_t>& backend_ids) {
  socklb_service_state s{};
  if (backends_inline(shape.backend_count))
    for (std::size_t i = 0; i < backend_ids.size() && i < SOCKLB_BACKENDS_INLINE; ++i) s.backend_ids[i] = backend_ids[i];
  key.vip.to_words(s.vip);
  s.port = htons(key.port);
  s.proto = static_cast<uint8_t>(key.protocol);
  if (shape.affinity) s.flags |= SOCKLB_SERVICE_AFFINITY;
  if (shape.fallback) s.flags |= SOCKLB_SERVICE_FALLBACK;
  s.backend_count = shape.backend_count;
  s.revision = shape.revision;
  s.affinity_timeout_sec = shape.affinity_timeout_sec;
  s.id = id;
  return s;
}

ServiceKey state_key(const socklb_service_state& state) {
  return {IpAddress::from_words(state.vip), ntohs(state.port), static_cast<Protocol>(state.proto)};
}

ServiceShape decode_shape(const socklb_service_state& state) {
  return {state.backend_count, state.revision, (state.flags & SOCKLB_SERVICE_AFFINITY) != 0,
          (state.flags & SOCKLB_SERVICE_FALLBACK) != 0, state.affinity_timeout_sec};
}

socklb_backend encode_backend(const Backend& backend, uint32_t service_id, bool shared) {
  socklb_backend value{};
  backend.ip.to_words(value.addr);
  value.port = htons(backend.port);
  value.family = backend.ip.is_v4() ? SOCKLB_FAMILY_V4 : SOCKLB_FAMILY_V6;
  value.state = kernel_state(backend.state);
  value.flags = shared ? SOCKLB_BACKEND_SHARED : 0;
  value.service_id = service_id;
  return value;
}

Backend decode_backend(const socklb_backend& value) {
  BackendState state = value.state == SOCKLB_BACKEND_ACTIVE        ? BackendState::Active
                       : value.state == SOCKLB_BACKEND_TERMINATING ? BackendState::Terminating
                                                                   : BackendState::Serving;
  return {IpAddress::from_words(value.addr), ntohs(value.port), state};
}

bool backend_shared(const socklb_backend& value) { return value.flags & SOCKLB_BACKEND_SHARED; }

socklb_addr_value encode_vip_addr(std::vector<std::pair<ServiceKey, uint32_t>> ports) {
  std::sort(ports.begin(), ports.end());
  socklb_addr_value v{};
  v.kind = SOCKLB_ADDR_VIP;
  v.refs = static_cast<uint32_t>(ports.size());
  for (std::size_t i = 0; i < ports.size() && i < SOCKLB_PORTS_INLINE; ++i) {
    v.ports[i].port = htons(ports[i].first.port);
    v.ports[i].proto = static_cast<uint8_t>(ports[i].first.protocol);
    v.ports[i].service_id = ports[i].second;
  }
  return v;
}

socklb_addr_value encode_pod_addr(uint32_t refs) {
  socklb_addr_value v{};
  v.kind = SOCKLB_ADDR_BACKEND;
  v.refs = refs;
  return v;
}

bool addr_is_vip(const socklb_addr_value& value) { return value.kind == SOCKLB_ADDR_VIP; }

socklb_reverse_value encode_reverse(const ServiceKey& service) {
  socklb_reverse_value v{};
  service.vip.to_words(v.vip);
  v.vip_port = htons(service.port);
  return v;
}

socklb_service_name encode_name(const ServiceRef& ref, const std::string& port_name) {
  socklb_service_name value;
  copy_name(value.ns, sizeof(value.ns), ref.ns);
  copy_name(value.name, sizeof(value.name), ref.name);
  copy_name(value.port_name, sizeof(value.port_name), port_name);
  return value;
}

}  // namespace socklb
