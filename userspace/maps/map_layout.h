#pragma once
// Every map, described once: its pin name (also its BPF map name), key and
// value sizes from the shared header, what kind of map it is, and which
// capacity setting sizes it. The loader, the map store, the planner's
// capacity checks and the tests all read this table.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "socklb_maps.h"

namespace socklb {

enum class MapId {
  AddrsV4,
  AddrsV6,
  ServicesV4,
  ServicesV6,
  ServiceState,
  Slots,
  Backends,
  Reverse,
  Affinity,
  ServiceNames,
  SockFlows,
  SockPeers,
  ServiceCounters,
  Totals,
};

// The capacity settings (`socklb run --max-*`).
struct MapCapacities {
  uint32_t services = 65536;     // per family: ClusterIP:port/protocol entries
  uint32_t backends = 262144;    // backend entries over all services
  uint32_t affinity = 65536;     // (client, service) pairs remembered for ClientIP affinity
  uint32_t socket_flows = 65536;  // flows of UDP sockets past the SOCKLB_FLOWS_INLINE each keeps itself
};

enum class MapKind {
  Hash,   // entries come and go
  Array,  // indexed by an id the agent hands out; "deleting" writes zeros, which mean free
};

struct MapDescriptor {
  MapId id;
  std::string_view name;
  uint32_t key_size;
  uint32_t value_size;
  MapKind kind;
  // Writes take the entry's bpf_spin_lock (BPF_F_LOCK), so a program that
  // reads under the lock sees one whole entry.
  bool locked;
  // Written by the programs (affinity, per-socket flows), not planned by the agent.
  bool written_by_programs;
  uint32_t (*capacity)(const MapCapacities&);
  std::string_view capacity_flag;  // what to raise when it is full
  // A per-CPU array of u64 counters: each CPU has its own copy of an entry.
  // The MapStore writes a value to every CPU's copy and reads back their sum.
  bool per_cpu = false;
};

inline constexpr std::array<MapDescriptor, 14> kMaps = {{
    {MapId::AddrsV4, "addrs_v4", sizeof(socklb_addr4_key), sizeof(socklb_addr_value), MapKind::Hash, false, false,
     [](const MapCapacities& c) { return c.services + c.backends; }, "--max-services"},
    {MapId::AddrsV6, "addrs_v6", sizeof(socklb_addr6_key), sizeof(socklb_addr_value), MapKind::Hash, false, false,
     [](const MapCapacities& c) { return c.services + c.backends; }, "--max-services"},
    {MapId::ServicesV4, "services_v4", sizeof(socklb_service4_key), sizeof(socklb_service_ref), MapKind::Hash, false,
     false, [](const MapCapacities& c) { return c.services; }, "--max-services"},
    {MapId::ServicesV6, "services_v6", sizeof(socklb_service6_key), sizeof(socklb_service_ref), MapKind::Hash, false,
     false, [](const MapCapacities& c) { return c.services; }, "--max-services"},
    // ids of both families, and room for the ids a sync released, which wait
    // one more sync before reuse (docs/datapath.md)
    {MapId::ServiceState, "service_state", sizeof(uint32_t), sizeof(socklb_service_state), MapKind::Array, false, false,
     [](const MapCapacities& c) { return 4 * c.services; }, "--max-services"},
    // two slot sets per service while it is updated
    {MapId::Slots, "slots", sizeof(socklb_slot_key), sizeof(socklb_slot_value), MapKind::Hash, false, false,
     [](const MapCapacities& c) { return 2 * c.backends; }, "--max-backends"},
    {MapId::Backends, "backends", sizeof(uint32_t), sizeof(socklb_backend), MapKind::Array, true, false,
     [](const MapCapacities& c) { return 2 * c.backends; }, "--max-backends"},
    {MapId::Reverse, "reverse", sizeof(socklb_reverse_key), sizeof(socklb_reverse_value), MapKind::Hash, false, false,
     [](const MapCapacities& c) { return c.backends; }, "--max-backends"},
    {MapId::Affinity, "affinity", sizeof(socklb_affinity_key), sizeof(socklb_affinity_value), MapKind::Hash, false, true,
     [](const MapCapacities& c) { return c.affinity; }, "--max-affinity"},
    {MapId::ServiceNames, "service_names", sizeof(uint32_t), sizeof(socklb_service_name), MapKind::Hash, false, false,
     [](const MapCapacities& c) { return 2 * c.services; }, "--max-services"},
    {MapId::SockFlows, "sock_flows", sizeof(socklb_sock_flow_key), sizeof(socklb_flow), MapKind::Hash, false, true,
     [](const MapCapacities& c) { return c.socket_flows; }, "--max-socket-flows"},
    {MapId::SockPeers, "sock_peers", sizeof(socklb_sock_peer_key), sizeof(socklb_sock_peer_value), MapKind::Hash,
     false, true, [](const MapCapacities& c) { return c.socket_flows; }, "--max-socket-flows"},
    // what the programs decided per service id, so as many entries as
    // service_state (24 bytes per entry and CPU, preallocated); an id's entry
    // is zeroed when the id is handed out (plan.h: new_service_ids)
    {MapId::ServiceCounters, "service_counters", sizeof(uint32_t), sizeof(socklb_service_counters), MapKind::Array,
     false, true, [](const MapCapacities& c) { return 4 * c.services; }, "--max-services", true},
    // the same over all services, and what no service can be named for
    {MapId::Totals, "totals", sizeof(uint32_t), sizeof(socklb_totals), MapKind::Array, false, true,
     [](const MapCapacities&) { return 1u; }, "", true},
}};

// Per-socket storage: pinned so a socket's state survives an agent upgrade,
// but not a key/value store userspace reads.
inline constexpr std::string_view kSockStateMapName = "sock_state";
// `socklb trace` (cli/trace_command.cpp): the flag it sets while it runs
// (array of one socklb_trace_ctl) and the ring buffer of
// socklb_trace_event it reads. Neither is planned nor read back.
inline constexpr std::string_view kTraceCtlMapName = "trace_ctl";
inline constexpr std::string_view kTraceEventsMapName = "trace_events";

inline const MapDescriptor& describe(MapId id) { return kMaps[static_cast<std::size_t>(id)]; }

// The descriptor of a map by its name; nullptr for a map this table does not
// describe (libbpf's internal .rodata/.bss, the socket storage).
inline const MapDescriptor* find_map(std::string_view name) {
  auto it = std::find_if(kMaps.begin(), kMaps.end(), [&](const MapDescriptor& m) { return m.name == name; });
  return it == kMaps.end() ? nullptr : &*it;
}

// What socklb pins under --bpffs: the maps above, the socket storage and the
// trace flag and ring buffer (not libbpf's internal .rodata/.bss, which belong
// to one load). Each is in the layout fingerprint, and a migration pins new
// ones in their place.
inline bool pinned_by_socklb(std::string_view map_name) {
  return find_map(map_name) != nullptr || map_name == kSockStateMapName || map_name == kTraceCtlMapName ||
         map_name == kTraceEventsMapName;
}

using Bytes = std::vector<uint8_t>;

template <typename T>
Bytes to_bytes(const T& value) {
  Bytes out(sizeof(T));
  std::memcpy(out.data(), &value, sizeof(T));
  return out;
}

// A key or value as it sits in a batch buffer.
using ByteView = std::span<const uint8_t>;

// The bytes of a key or value where it is, without a copy: for a call that
// copies them on (a plan's batch buffer). Valid as long as `value` is.
template <typename T>
ByteView bytes_of(const T& value) {
  return ByteView(reinterpret_cast<const uint8_t*>(&value), sizeof(T));
}

template <typename T>
T from_bytes(ByteView bytes) {
  T value{};
  std::memcpy(&value, bytes.data(), std::min(bytes.size(), sizeof(T)));
  return value;
}

inline bool all_zero(ByteView bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace socklb
