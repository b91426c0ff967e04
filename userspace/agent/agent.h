#pragma once
// `socklb run`: install the datapath, then keep the maps in line with the
// manifests (or the Kubernetes API) until SIGTERM/SIGINT. Exiting leaves the datapath pinned and
// serving; the next run adopts it.

#include <chrono>
#include <filesystem>
#include <optional>

#include "kernel/loader.h"
#include "kube/kubeconfig.h"
#include "desired/reconcile.h"

namespace socklb {

struct AgentOptions {
  // Where services come from: manifest files, or the Kubernetes API when
  // `api` is set.
  std::filesystem::path manifests;
  std::optional<ApiAccess> api;
  std::filesystem::path bpffs_dir;
  std::filesystem::path cgroup;
  ReconcileSettings reconcile;
  MapCapacities capacities;
  // How often every service is reconciled anew against the maps read back:
  // the safety net under the incremental syncs (a bug, or a map written by
  // someone else), not the path of changes.
  std::chrono::seconds full_resync{3600};
  // HTTP endpoints (HOST:PORT; empty: off): /healthz and /livez, /metrics.
  std::string health_addr = "0.0.0.0:10256";
  std::string metrics_addr = "127.0.0.1:10249";
  // /metrics has one series per service port and counter (100,000 services:
  // 300,000 series), not only the totals.
  bool metrics_per_service = false;
  // /healthz fails when a received change has waited this long to be applied.
  std::chrono::seconds health_timeout{60};
  // A hosts-format file of every served service's names (empty: none), under
  // this cluster domain.
  std::filesystem::path hosts_file;
  std::string cluster_domain = "cluster.local";
};

// Returns the process exit code. Start-up problems throw with a message
// that names the fix.
int run_agent(const AgentOptions& options);

}  // namespace socklb
