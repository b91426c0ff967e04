#pragma once
// A plan: the map writes that take the kernel from what it serves to the
// desired state, as ordered steps. apply_plan() runs them against the maps,
// advance_state() against the carried copy of the kernel state, and both walk
// the same list in the same order, so they cannot disagree.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "maps/kernel_state.h"
#include "maps/map_store.h"
#include "desired/service_table.h"
#include "manifests/diagnostic.h"

namespace socklb {

struct PlanSummary {
  std::size_t added = 0;
  std::size_t updated = 0;
  std::size_t removed = 0;
  std::size_t held = 0;       // kept as they are because their input is broken
  std::size_t unchanged = 0;
  std::size_t services = 0;   // served after the plan
  std::size_t backends = 0;   // backend entries after the plan
  // "+default/web:http 10.96.0.10:80/TCP", "~...", "-...": for the sync log
  std::vector<std::string> changes;
};

enum class PlanOp { Write, Remove };

// One batch: entries of one map, keys (and values, for writes) packed as the
// batch system calls take them.
struct PlanStep {
  MapId map;
  PlanOp op;
  // 1: what nothing refers to yet; 2: new slot sets; 3: the flips, what
  // makes services reachable and the removal of keys no service serves;
  // 4: the removal of what they referred to (plan.cpp says why in this order).
  int phase = 0;
  std::size_t count = 0;
  Bytes keys;
  Bytes values;

  ByteView key(std::size_t i) const;
  ByteView value(std::size_t i) const;
};

struct Plan {
  // In phase order (plan.cpp). The removals (phase 4) run only after every
  // program run that could still see what they remove has ended
  // (MapStore::wait_for_readers).
  std::vector<PlanStep> steps;
  std::vector<uint32_t> purge_affinity;  // service ids whose affinity entries must go

  // Ids this plan frees. They are handed out again only after the next
  // sync's wait for readers: until then a connect may still hold one.
  std::vector<uint32_t> released_service_ids;
  std::vector<uint32_t> released_backend_ids;
  // Ids this plan hands out to services. apply_plan() zeroes their counters
  // (service_counters) first, before any step can make them reachable: the
  // quarantine has ended every program run that counted for the id's
  // previous owner. Not steps: the counters are the programs', not planned.
  std::vector<uint32_t> new_service_ids;

  // Every pod address:port a TCP service lists after the plan, sorted: a
  // TCP connection to one that leaves this set has lost its pod. Only a
  // full plan lists them all.
  std::vector<ReverseKey> tcp_endpoints;
  // A scoped plan's: the ones its services listed before and none lists after.
  std::vector<ReverseKey> gone_tcp_endpoints;

  PlanSummary summary;
  Diagnostics diagnostics;  // services refused for capacity

  std::size_t writes() const;  // entries written or removed, affinity purges counted per service
  bool empty() const { return writes() == 0; }
  // apply_plan() waits for readers before the removals, if there are any
  bool waits_for_readers() const { return !steps.empty() && steps.back().phase == 4; }
};

// What the maps can take, and the ids that must not be handed out yet.
struct PlanLimits {
  std::array<uint32_t, kMaps.size()> capacity{};
  std::vector<uint32_t> quarantined_service_ids;
  std::vector<uint32_t> quarantined_backend_ids;

  uint32_t of(MapId map) const { return capacity[static_cast<std::size_t>(map)]; }
};

PlanLimits limits_of(const MapStore& store);

// Who lists each pod address:port after a plan, and what each service key
// lists: the reverse map, the SHARED flags and the pod address entries
// follow from it. The planner keeps it from one plan to the next.
struct EndpointListing {
  std::map<ReverseKey, std::vector<ServiceKey>> by_endpoint;
  std::map<ServiceKey, std::vector<ReverseKey>> by_service;
};

// Plans every service: the kernel is compared with the desired state entry
// by entry, and whatever no service uses goes. `listing`, when given, is
// rebuilt.
Plan make_plan(const DesiredState& desired, const KernelState& kernel, const PlanLimits& limits,
               EndpointListing* listing = nullptr);

// Plans only the service keys in `scope` (those whose desired entry
// changed): every other key is taken to be served as desired already. The
// cost is that of the keys, their endpoints and the other services listing
// those. `listing` must be what the previous plan left (after it was
// applied); it is updated.
Plan make_plan(const DesiredState& desired, const KernelState& kernel, const PlanLimits& limits,
               const std::set<ServiceKey>& scope, EndpointListing& listing);

}  // namespace socklb
