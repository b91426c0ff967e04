#pragma once
// `socklb run`: install the datapath, then keep the maps in line with the
// manifests until SIGTERM/SIGINT. Exiting leaves the datapath pinned and
// serving; the next run adopts it.

#include <chrono>
#include <filesystem>

#include "kernel/loader.h"
#include "desired/reconcile.h"

namespace socklb {

struct AgentOptions {
  std::filesystem::path manifests;
  std::filesystem::path bpffs_dir;
  std::filesystem::path cgroup;
  ReconcileSettings reconcile;
  MapCapacities capacities;
  // How often every service is reconciled anew against the maps read back:
  // the safety net under the incremental syncs (a bug, or a map written by
  // someone else), not the path of changes.
  std::chrono::seconds full_resync{3600};
};

// Returns the process exit code. Start-up problems throw with a message
// that names the fix.
int run_agent(const AgentOptions& options);

}  // namespace socklb
