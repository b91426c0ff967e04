#pragma once
// What the agent tells the world, one function per event: the fields of its
// JSON form (the contract, docs/events.md) and the line a person reads in
// text mode, side by side so the two cannot drift apart unnoticed.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "agent/syncer.h"
#include "kernel/loader.h"
#include "manifests/diagnostic.h"

namespace socklb {

void log_datapath_installed(const std::filesystem::path& bpffs, const std::filesystem::path& cgroup,
                            const InstallReport& installed);

// The pins had another layout: what the agent does before its first sync.
void log_layout_migration_staged(const std::filesystem::path& bpffs, const LayoutMigration& migration);
// ... and once that sync went through: the programs and pins switched.
void log_layout_migrated(const std::filesystem::path& bpffs, const LayoutMigration& migration);

// Errors and warnings about the input, each with its file, line, object and field.
void log_diagnostics(int sync, const Diagnostics& diagnostics);

struct SyncReport {
  int sync = 0;
  bool from_api = false;   // the Kubernetes API, not manifest files
  std::size_t files = 0;   // manifest files read (0 from the API)
  std::size_t parsed = 0;  // of which parsed (changed since the last read)
  std::chrono::duration<double, std::milli> read{0};
  // From the first file change this sync includes reaching the agent
  // (inotify) to its last map write; none for the first sync and retries
  // without a change.
  std::optional<std::chrono::duration<double, std::milli>> since_change;
  // The same to the writes that serve the change (before the wait for
  // readers and the removals): when connects reach the new state.
  std::optional<std::chrono::duration<double, std::milli>> since_change_served;
  std::size_t errors = 0, warnings = 0;  // diagnostics of this sync, reader's and syncer's
  // The periodic full resync: every service reconciled anew against the
  // maps read back. Its writes, if any, repaired drift.
  bool resync = false;
};
void log_sync(const SyncReport& report, const SyncResult& result);

// A sync's removals (its sync event's removals_pending), applied once no
// program run that started before its serving writes can still be going.
// `change`: when the change that sync applied reached the agent.
void log_cleanup(int sync, const RemovalsDone& done, std::optional<std::chrono::steady_clock::time_point> change);

// stage: "read" (the manifests could not be listed: nothing was written) or
// "apply" (a map write or read failed: every service is whole, old or new).
void log_sync_failed(int sync, std::string_view stage, const std::string& error, std::chrono::seconds retry_in);

void log_sockets_closed(int sync, int count);

// A `socklb trace` was killed with the trace on; the agent turned it off.
void log_trace_cleared(uint32_t tracer_pid);

void log_stopping(const std::string& signal, const std::filesystem::path& bpffs);

// The HTTP endpoints listen (a port of 0: that one is off).
void log_http_endpoints(int health_port, int metrics_port);

// The agent could not start or had to stop: the error, naming the fix.
void log_fatal(const std::string& error);

}  // namespace socklb
