#pragma once
// What the kernel serves now, decoded from the maps. The source of truth for
// `socklb services` and for every plan: nothing is remembered on the side.

#include <map>
#include <optional>
#include <vector>

#include "datapath/map_store.h"
#include "desired/service_table.h"

namespace socklb {

struct SlotRef {
  uint32_t service_id = 0;
  uint8_t revision = 0;
  uint16_t index = 0;

  auto operator<=>(const SlotRef&) const = default;
  socklb_slot_key key() const { return {service_id, index, revision, 0}; }
};

struct KernelState {
  std::map<ServiceKey, socklb_service_value> services;
  std::map<uint32_t, socklb_service_name> names;
  std::map<SlotRef, uint32_t> slots;  // -> backend id
  std::map<uint32_t, socklb_backend> backends;
  std::map<IpAddress, uint32_t> vips;  // -> port count

  ServiceRef owner(uint32_t service_id) const;  // empty when the name entry is missing
  std::map<ServiceKey, ServiceRef> owners() const;
  // Backend ids of the live slot set; nullopt when a slot is missing.
  std::optional<std::vector<uint32_t>> live_backend_ids(const socklb_service_value& service) const;
};

KernelState read_kernel_state(const MapStore& store);

// Encoding between the C++ model and the map structs.
std::pair<MapId, Bytes> encode_service_key(const ServiceKey& key);
std::pair<MapId, Bytes> encode_vip_key(const IpAddress& vip);
socklb_backend encode_backend(const Backend& backend, uint32_t service_id);
Backend decode_backend(const socklb_backend& value);
socklb_service_name encode_name(const ServiceRef& ref, const std::string& port_name);
std::string name_field(const char* field, std::size_t size);  // a NUL-padded char array as a string

bool operator==(const socklb_service_name& a, const socklb_service_name& b);
bool operator==(const socklb_service_value& a, const socklb_service_value& b);
bool operator==(const socklb_backend& a, const socklb_backend& b);

}  // namespace socklb
