#pragma once
// A plan: the map writes that take the kernel from what it serves to the
// desired state, grouped in phases that apply_plan() runs in order.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "datapath/kernel_state.h"
#include "desired/service_table.h"

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

struct Plan {
  // Phase 1: entries nothing points at yet.
  std::vector<std::pair<uint32_t, socklb_service_name>> write_names;
  std::vector<std::pair<IpAddress, socklb_vip_value>> write_vips;
  std::vector<std::pair<uint32_t, socklb_backend>> write_backends;
  // Phase 2: new slot sets, under the revision each service does not use.
  std::vector<std::pair<SlotRef, uint32_t>> write_slots;
  // Phase 3: the flip. One write per service switches it to its new set.
  std::vector<std::pair<ServiceKey, socklb_service_value>> write_services;
  // Phase 4: removals, entries that point before the entries pointed at.
  std::vector<ServiceKey> delete_services;
  std::vector<SlotRef> delete_slots;
  std::vector<uint32_t> delete_backends;
  std::vector<uint32_t> purge_affinity;  // service ids whose affinity entries must go
  std::vector<uint32_t> delete_names;
  std::vector<IpAddress> delete_vips;

  PlanSummary summary;
  Diagnostics diagnostics;  // services refused for capacity

  std::size_t writes() const;
  bool empty() const { return writes() == 0; }
};

// Capacities of the maps (their max_entries).
struct Capacity {
  uint32_t vips_v4 = 0, vips_v6 = 0;
  uint32_t services_v4 = 0, services_v6 = 0;
  uint32_t slots = 0, backends = 0, names = 0;
};

Plan make_plan(const DesiredState& desired, const KernelState& kernel, const Capacity& capacity);

}  // namespace socklb
