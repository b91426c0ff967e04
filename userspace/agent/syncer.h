#pragma once
// One sync: the objects the store marked dirty -> desired state -> plan ->
// map writes. Runs against any MapStore, so the whole control path is tested
// without a kernel.

#include <array>
#include <chrono>
#include <optional>
#include <vector>

#include "maps/kernel_state.h"
#include "maps/map_store.h"
#include "desired/reconcile.h"
#include "plan/apply_plan.h"
#include "plan/id_quarantine.h"
#include "plan/plan.h"
#include "store/object_store.h"

namespace socklb {

struct SyncResult {
  PlanSummary summary;
  std::size_t writes = 0;
  // Connections that lost their pod: TCP ones to an address:port no service
  // lists any more; connected UDP ones whose backend entry was freed (the
  // socket iterator checks those against the maps itself).
  std::vector<ReverseKey> gone_tcp_endpoints;
  std::size_t backends_freed = 0;
  Diagnostics diagnostics;  // from reconcile and the planner
  std::chrono::microseconds took{0};        // the whole sync: reconcile, plan, map writes
  std::chrono::microseconds apply_took{0};  // of which the map writes (and the wait for readers)
  // When the writes that serve the new state were done: before the wait
  // for readers and the removals after it (phase 4), which only clean up.
  std::chrono::steady_clock::time_point served_at;
  // Entries of each map after the sync, and its capacity (for /metrics).
  std::array<std::size_t, kMaps.size()> map_entries{};
  std::array<uint32_t, kMaps.size()> map_capacity{};
};

class Syncer {
 public:
  Syncer(MapStore& store, ReconcileSettings settings, ApplyObserver observer = {})
      : store_(store), settings_(settings), observer_(std::move(observer)), reconciler_(std::move(settings)) {}

  // Reconciles what `objects` marked dirty since the last sync and writes
  // the difference. Throws std::runtime_error when a map write fails; the
  // maps then hold a consistent mix of old and new services and the next
  // sync finishes the job.
  SyncResult sync(ObjectStore& objects);
  // The same from scratch: `input` is all there is (tests, one-shot runs).
  SyncResult sync(const ManifestSet& input);
  // The safety net: every service reconciled anew and compared with the
  // maps as read back, so any drift between them is repaired.
  SyncResult resync(ObjectStore& objects);

  // Removes affinity entries whose timeout passed, or whose service is gone
  // or no longer asks for affinity: the affinity map is not an LRU (a client
  // must not be able to push others' entries out), so this is what frees it.
  // `now_ns`: CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns(). Returns the
  // number of entries removed.
  std::size_t expire_affinity(uint64_t now_ns);

  // The maps were just created, so they hold nothing and no program run
  // can hold an id of theirs: the first sync plans against an empty state
  // instead of reading them back and waiting for readers. Only before it.
  void maps_created_empty();

  // What the maps hold after the last sync that went through; null before
  // the first and after a failed write.
  const KernelState* served() const { return known_ ? &*known_ : nullptr; }

 private:
  MapStore& store_;
  ReconcileSettings settings_;
  ApplyObserver observer_;
  Reconciler reconciler_;
  // Reconcile looks at every service the kernel serves too: set until a
  // sync went through after the maps were read back.
  bool look_at_kernel_services_ = true;
  // What the maps hold after the last sync, advanced from its plan; empty
  // after a failed write (the next sync reads the maps back).
  std::optional<KernelState> known_;
  IdQuarantine quarantine_;
  // Who lists each pod address:port, as the last plan left it.
  EndpointListing listing_;
  // The next plan looks at every service, not only the changed ones: at
  // the start, after a failed write, on a resync.
  bool plan_all_ = true;
  bool first_ = true;
  // What TCP connections made before this agent started may use (until
  // the first plan).
  std::vector<ReverseKey> endpoints_before_;
};

}  // namespace socklb
