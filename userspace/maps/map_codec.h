#pragma once
// Between the model (service keys, backends, names) and the map structs of
// bpf/socklb_maps.h: the one place that knows both.

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "maps/map_layout.h"
#include "model/service.h"

namespace socklb {

// A pod address:port/protocol, as the reverse map keys it.
struct ReverseKey {
  IpAddress ip;
  uint16_t port = 0;
  Protocol protocol = Protocol::TCP;
  auto operator<=>(const ReverseKey&) const = default;
};

struct SlotRef {
  uint32_t service_id = 0;
  uint8_t revision = 0;
  uint16_t index = 0;

  auto operator<=>(const SlotRef&) const = default;
};

// What a service entry says besides its key.
struct ServiceShape {
  uint16_t backend_count = 0;
  uint8_t revision = 0;
  bool affinity = false;
  bool fallback = false;  // its slots hold terminating backends: no ready one is left
  uint32_t affinity_timeout_sec = 0;
};

// A key of the map it names (v4 or v6), held in place: the planner encodes
// millions of them at a start and copies each into a batch buffer, so none
// gets a heap allocation of its own.
struct MapKey {
  MapId map;
  std::array<uint8_t, 20> bytes{};  // the largest key it holds: socklb_service6_key, socklb_addr6_key
  uint8_t size = 0;

  ByteView view() const { return ByteView(bytes.data(), size); }
};

MapKey service_key_of(const ServiceKey& key);
MapKey addr_key_of(const IpAddress& ip);
socklb_reverse_key reverse_key_of(const ReverseKey& key);
socklb_slot_key slot_key_of(const SlotRef& slot);

// The same as byte vectors (tests, the CLI).
std::pair<MapId, Bytes> encode_service_key(const ServiceKey& key);
ServiceKey decode_service_key(MapId map, ByteView key);
std::pair<MapId, Bytes> encode_addr_key(const IpAddress& ip);
IpAddress decode_addr_key(MapId map, ByteView key);
Bytes encode_reverse_key(const ReverseKey& key);
ReverseKey decode_reverse_key(ByteView key);
Bytes encode_slot_key(const SlotRef& slot);
SlotRef decode_slot_key(ByteView key);

// `backend_ids`: the live set, kept in the entry when it fits (the planner
// writes a larger one to the slots map).
socklb_service_state encode_state(uint32_t id, const ServiceKey& key, const ServiceShape& shape,
                                  const std::vector<uint32_t>& backend_ids = {});
bool backends_inline(uint16_t backend_count);  // the live set is in the state entry, not in slots
ServiceKey state_key(const socklb_service_state& state);
ServiceShape decode_shape(const socklb_service_state& state);

// Only states the kernel knows: Active, Terminating and Serving.
socklb_backend encode_backend(const Backend& backend, uint32_t service_id, bool shared);
Backend decode_backend(const socklb_backend& value);
bool backend_shared(const socklb_backend& value);

// A ClusterIP with its service ports (the first SOCKLB_PORTS_INLINE of them inline).
socklb_addr_value encode_vip_addr(std::vector<std::pair<ServiceKey, uint32_t>> ports);
// A pod address that backs `refs` ClusterIP:ports.
socklb_addr_value encode_pod_addr(uint32_t refs);
bool addr_is_vip(const socklb_addr_value& value);
socklb_reverse_value encode_reverse(const ServiceKey& service);

socklb_service_name encode_name(const ServiceRef& ref, const std::string& port_name);
std::string name_field(const char* field, std::size_t size);  // a NUL-padded char array as a string

bool operator==(const socklb_service_name& a, const socklb_service_name& b);
bool operator==(const socklb_service_state& a, const socklb_service_state& b);
bool operator==(const socklb_backend& a, const socklb_backend& b);
bool operator==(const socklb_addr_value& a, const socklb_addr_value& b);
bool operator==(const socklb_reverse_value& a, const socklb_reverse_value& b);

}  // namespace socklb
