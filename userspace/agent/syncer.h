#pragma once
// One sync: manifests -> desired state -> plan -> map writes. Runs against
// any MapStore, so the whole control path is tested without a kernel.

#include <chrono>
#include <optional>

#include "datapath/kernel_state.h"
#include "datapath/map_store.h"
#include "desired/reconcile.h"
#include "plan/plan.h"

namespace socklb {

struct SyncResult {
  PlanSummary summary;
  std::size_t writes = 0;
  std::size_t backends_deleted = 0;  // sockets connected to them are now stale
  Diagnostics diagnostics;  // from reconcile and the planner
  std::chrono::microseconds took{0};
};

class Syncer {
 public:
  Syncer(MapStore& store, ReconcileSettings settings) : store_(store), settings_(std::move(settings)) {}

  // Throws std::runtime_error when a map write fails; the maps then hold a
  // consistent mix of old and new services and the next sync finishes the job.
  SyncResult sync(const ManifestSet& input);

 private:
  Capacity capacity() const;

  MapStore& store_;
  ReconcileSettings settings_;
  // What the maps hold after the last sync, advanced from its plan; empty
  // after a failed write (the next sync reads the maps back).
  std::optional<KernelState> known_;
};

}  // namespace socklb
