#pragma once
// One sync: the objects the store marked dirty -> desired state -> plan ->
// map writes. Runs against any MapStore, so the whole control path is tested
// without a kernel.

#include <array>
#include <chrono>
#include <future>
#include <optional>
#include <utility>
#include <vector>

#include "maps/kernel_state.h"
#include "maps/map_store.h"
#include "desired/reconcile.h"
#include "plan/apply_plan.h"
#include "plan/id_quarantine.h"
#include "plan/plan.h"
#include "store/object_store.h"
#include "sys/unique_fd.h"

namespace socklb {

// The removals of a sync applied after their grace period.
struct RemovalsDone {
  std::size_t entries = 0;
  std::chrono::steady_clock::time_point served_at;  // of their sync: when their grace period began
  std::chrono::steady_clock::time_point done_at;
};

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
  // With defer_removals(): the entries this sync's removals will take away
  // once their grace period ended (0: none wait), and the last sync's
  // removals if this sync applied them (before its own writes).
  std::size_t removals_pending = 0;
  std::optional<RemovalsDone> earlier_removals;
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

  // A sync returns once its change is served. Its removals wait for their
  // grace period on a thread of their own, so that wait overlaps what comes
  // next instead of delaying this change; finish_removals() applies them,
  // and the next sync does at the latest. removals_ready_fd() is readable
  // once the grace period ended. The agent's mode; without it a sync waits
  // and removes before it returns.
  void defer_removals();
  bool removals_pending() const { return pending_.has_value(); }
  int removals_ready_fd() const { return grace_ended_.get(); }
  // Waits for the rest of the grace period if needed. Throws when a
  // removal fails (the next sync reads the maps back).
  std::optional<RemovalsDone> finish_removals();
  // The last sync's removals, when a sync applied them and then failed (one
  // that went through returns them in its result).
  std::optional<RemovalsDone> take_finished_removals() { return std::exchange(finished_, std::nullopt); }

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
  void start_grace_period(Removals removals, std::chrono::steady_clock::time_point served_at);
  bool defer_removals_ = false;
  UniqueFd grace_ended_;  // an eventfd the grace period's thread writes when it ends
  struct Pending {
    Removals removals;
    std::chrono::steady_clock::time_point served_at;
    std::future<void> grace;
  };
  std::optional<Pending> pending_;
  std::optional<RemovalsDone> finished_;  // by this sync, before its own writes
};

}  // namespace socklb
