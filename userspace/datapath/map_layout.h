#pragma once
// The maps as userspace addresses them: a name (the pin file name and the
// BPF map name), and the key/value sizes from the shared header, checked
// against pinned maps before use.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "socklb_maps.h"

namespace socklb {

enum class MapId { VipsV4, VipsV6, ServicesV4, ServicesV6, Slots, Backends, Affinity, ServiceNames };

struct MapLayout {
  MapId id;
  std::string_view name;
  uint32_t key_size;
  uint32_t value_size;
};

inline constexpr std::array<MapLayout, 8> kMapLayouts = {{
    {MapId::VipsV4, "vips_v4", sizeof(socklb_vip4_key), sizeof(socklb_vip_value)},
    {MapId::VipsV6, "vips_v6", sizeof(socklb_vip6_key), sizeof(socklb_vip_value)},
    {MapId::ServicesV4, "services_v4", sizeof(socklb_service4_key), sizeof(socklb_service_value)},
    {MapId::ServicesV6, "services_v6", sizeof(socklb_service6_key), sizeof(socklb_service_value)},
    {MapId::Slots, "slots", sizeof(socklb_slot_key), sizeof(socklb_slot_value)},
    {MapId::Backends, "backends", sizeof(uint32_t), sizeof(socklb_backend)},
    {MapId::Affinity, "affinity", sizeof(socklb_affinity_key), sizeof(socklb_affinity_value)},
    {MapId::ServiceNames, "service_names", sizeof(uint32_t), sizeof(socklb_service_name)},
}};

// Per-socket storage: pinned so translations survive an agent upgrade, but
// not a key/value store userspace reads.
inline constexpr std::string_view kSockXlateMapName = "sock_xlate";

inline const MapLayout& layout_of(MapId id) { return kMapLayouts[static_cast<std::size_t>(id)]; }

using Bytes = std::vector<uint8_t>;

template <typename T>
Bytes to_bytes(const T& value) {
  Bytes out(sizeof(T));
  std::memcpy(out.data(), &value, sizeof(T));
  return out;
}

template <typename T>
T from_bytes(const Bytes& bytes) {
  T value{};
  std::memcpy(&value, bytes.data(), std::min(bytes.size(), sizeof(T)));
  return value;
}

}  // namespace socklb
