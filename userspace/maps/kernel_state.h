#pragma once
// What the kernel serves now, decoded from the maps. The source of truth for
// `socklb services` and for every plan: nothing is remembered on the side.

#include <array>
#include <map>
#include <unordered_map>
#include <optional>
#include <vector>

#include "maps/map_codec.h"
#include "maps/map_store.h"

namespace socklb {

struct KernelState {
  std::map<ServiceKey, uint32_t> services;              // services_v4/_v6: key -> service id
  std::map<uint32_t, socklb_service_state> states;      // service_state entries in use
  std::map<uint32_t, socklb_service_name> names;
  std::map<SlotRef, uint32_t> slots;                    // -> backend id
  std::map<uint32_t, socklb_backend> backends;          // entries in use (lock word zero)
  std::map<IpAddress, socklb_addr_value> addrs;
  std::map<ReverseKey, socklb_reverse_value> reverse;

  // Kept by put() and erase(), for plans of a few services: the backend
  // entries of each service id, and how many entries each map holds.
  std::unordered_map<uint32_t, std::vector<uint32_t>> backends_by_service;
  std::array<std::size_t, kMaps.size()> entries{};
  std::size_t count(MapId map) const { return entries[static_cast<std::size_t>(map)]; }

  // The one decoder of map contents: reading the maps back and advancing
  // over a plan both go through these. A zero value written to an array
  // frees the entry.
  void put(MapId map, ByteView key, ByteView value);
  void erase(MapId map, ByteView key);

  // The state entry a service key is served by: the one its id names, if it
  // carries that key (an interrupted sync can leave either half alone).
  const socklb_service_state* served(const ServiceKey& key) const;
  ServiceRef owner(uint32_t service_id) const;  // empty when the name entry is missing
  std::map<ServiceKey, ServiceRef> owners() const;
  // Backend ids of the live set (in the state entry, or its slot set);
  // nullopt when a slot is missing.
  std::optional<std::vector<uint32_t>> live_backend_ids(const socklb_service_state& state) const;
};

KernelState read_kernel_state(const MapStore& store);

}  // namespace socklb
