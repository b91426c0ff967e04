#pragma once
// `socklb run`: install the datapath, then keep the maps in line with the
// manifests until SIGTERM/SIGINT. Exiting leaves the datapath pinned and
// serving; the next run adopts it.

#include <chrono>
#include <filesystem>

#include "datapath/loader.h"
#include "desired/reconcile.h"

namespace socklb {

struct AgentOptions {
  std::filesystem::path manifests;
  std::filesystem::path bpffs_dir;
  std::filesystem::path cgroup;
  ReconcileSettings reconcile;
  MapCapacities capacities;
  // Changes closer together than this are applied in one sync (an editor
  // writing several files, a `cp -r`).
  std::chrono::milliseconds settle{20};
};

// Returns the process exit code. Start-up problems throw with a message
// that names the fix.
int run_agent(const AgentOptions& options);

}  // namespace socklb
