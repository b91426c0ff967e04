#pragma once
// A throwaway node for one kernel test: a network namespace with no route off
// the machine (pods are addresses on its loopback), a child cgroup of our
// own, our own bpffs directory, a manifest directory, the agent and the
// servers. The destructor removes all of it, also when the test failed.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent_log.h"
#include "child_process.h"

namespace kt {

struct Attempt {
  bool ok = false;
  std::string backend;  // the address that answered ("pod")
  std::string label;
  std::string peer;     // what getpeername()/recvfrom() showed the client
  std::string error;    // "ECONNREFUSED" ...
  std::string to;       // the address dialled
  double ms = 0;
  std::chrono::steady_clock::time_point started;  // CLOCK_MONOTONIC, comparable across processes
};

// The JSON lines of `socklb-probe connect`.
std::vector<Attempt> parse_attempts(const std::vector<std::string>& probe_lines);

struct ConnectOptions {
  std::string proto = "tcp";  // tcp, udp, udp-unconnected
  int count = 1;
  bool v4_mapped = false;
  bool reuse_socket = false;
  int interval_ms = 0;
  int timeout_ms = 2000;
};

class Testbed {
 public:
  Testbed();
  ~Testbed();
  Testbed(const Testbed&) = delete;
  Testbed& operator=(const Testbed&) = delete;

  const std::string& netns() const { return name_; }
  const std::filesystem::path& cgroup() const { return cgroup_; }
  const std::filesystem::path& bpffs() const { return bpffs_; }
  const std::filesystem::path& manifests() const { return manifests_; }

  // Pods: servers answering on these IP:PORT (IPv6 as [addr]:port), each
  // address added to the namespace's loopback.
  // keep_open: TCP connections stay open, one reply per message.
  void serve(const std::vector<std::string>& tcp, const std::vector<std::string>& udp = {}, bool keep_open = false);

  // The agent serves a Kubernetes API server's services (this kubeconfig)
  // instead of the manifest directory.
  void use_api(const std::filesystem::path& kubeconfig) { kubeconfig_ = kubeconfig; }
  void write_manifest(const std::string& file, const std::string& yaml);  // atomic (rename)
  void remove_manifest(const std::string& file);

  // Starts `socklb run` on this node and waits for its first sync.
  void start_agent(const std::vector<std::string>& extra_args = {});
  // Starts it without waiting for anything (an agent that cannot sync yet).
  void launch_agent(const std::vector<std::string>& extra_args = {});
  // Its command line: this node's paths, the JSON event log (docs/events.md).
  std::vector<std::string> agent_argv(const std::vector<std::string>& extra_args = {}) const;
  void kill_agent(int sig);
  // The ports the agent's HTTP endpoints listen on (its "http" event).
  int health_port() const;
  int metrics_port() const;
  ChildProcess& agent() { return *agent_; }
  int syncs_logged() const;
  // Waits for a sync event after `after` syncs; returns it.
  nlohmann::json wait_for_sync_after(int after, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Writes a manifest and waits for the sync that applies it; returns its event.
  nlohmann::json apply(const std::string& file, const std::string& yaml);
  // The agent's events named `name` (all when empty), from its output line `from` on.
  std::vector<nlohmann::json> events(const std::string& name = "", std::size_t from = 0) const;
  // Its diagnostics from output line `from` on, as the text log words them
  // ("web.yaml:10: Service default/web: spec.ports[0].port: ..."); errors only
  // when `severity` is "error".
  std::vector<std::string> diagnostics(std::size_t from = 0, const std::string& severity = "") const;

  std::vector<Attempt> connect(const std::string& to, const ConnectOptions& options = {});
  // The attempts take turns over the addresses (one socket for all with reuse_socket).
  std::vector<Attempt> connect(const std::vector<std::string>& to, const ConnectOptions& options = {});
  // The argv of `socklb-probe connect` from this node's namespace and cgroup.
  std::vector<std::string> probe_connect_argv(const std::vector<std::string>& to, const ConnectOptions& options) const;
  CommandResult socklb(const std::vector<std::string>& args);  // the CLI, with --bpffs of this node
  nlohmann::json services();                                    // `socklb services -o json`

  // Removes what earlier runs of this test binary left when they were killed.
  static void sweep_leftovers();

 private:
  std::string name_;
  std::filesystem::path cgroup_, bpffs_, manifests_;
  std::optional<std::filesystem::path> kubeconfig_;
  std::unique_ptr<ChildProcess> agent_;
  std::vector<std::unique_ptr<ChildProcess>> servers_;
};

std::string sh(const std::string& command);  // runs via /bin/sh, throws on failure
std::filesystem::path cgroup2_root();

}  // namespace kt
