#include "agent/agent.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/agent_events.h"
#include "agent/fault_point.h"
#include "agent/hosts_file.h"
#include "agent/manifest_watch.h"
#include "agent/syncer.h"
#include "kernel/pinned_maps.h"
#include "kernel/preflight.h"
#include "kernel/stale_sockets.h"
#include "kernel/trace_control.h"
#include "sys/sys_error.h"
#include "kernel/attachment_check.h"
#include "sources/kube_source.h"
#include "status/health.h"
#include "status/http_endpoints.h"
#include "status/metrics.h"
#include "status/status_file.h"
#include "sources/manifest_source.h"
#include "sources/prefetched_source.h"
#include "store/object_store.h"

namespace socklb {
namespace fs = std::filesystem;
namespace {

std::string now_rfc3339() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  std::tm tm{};
  gmtime_r(&now.tv_sec, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, now.tv_nsec / 1'000'000);
}

constexpr std::chrono::seconds kRetryAfterFailure{1};
// How often expired affinity entries are removed (an entry outlives its
// timeout by at most this: the programs ignore an expired one anyway), and a
// trace left on by a killed `socklb trace` is turned off.
constexpr std::chrono::seconds kAffinityExpiry{10};

UniqueFd termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw SystemError("sigprocmask", errno);
  UniqueFd fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) throw SystemError("signalfd", errno);
  return fd;
}

// "SIGTERM": the name of the signal waiting on a signalfd.
std::string signal_received(int fd) {
  signalfd_siginfo info{};
  if (read(fd, &info, sizeof(info)) != sizeof(info)) return "unknown";
  const char* abbrev = sigabbrev_np(static_cast<int>(info.ssi_signo));
  return abbrev ? std::string("SIG") + abbrev : std::to_string(info.ssi_signo);
}

class Agent {
 public:
  // `commit`: set when the datapath is staged (a layout migration) and the
  // maps are its new ones; run once, after the first sync that went through
  // and before that sync is logged, so a `sync` event always means served.
  // `maps_empty`: the datapath created every map just now (Syncer::maps_created_empty).
  Agent(const AgentOptions& options, ObjectSource& source, MapStore& store, bool maps_empty,
        std::optional<FaultPoint> fault, AgentMetrics& metrics, AgentHealth& health, std::function<void()> commit = {})
      : options_(options),
        metrics_(metrics),
        health_(health),
        source_(source),
        maps_(store),
        settings_(options.reconcile),
        observer_(fault ? pause_at(*fault, [this] { return number_; }) : ApplyObserver{}),
        commit_(std::move(commit)),
        maps_empty_(maps_empty) {
    make_syncer();
    if (!options.hosts_file.empty()) hosts_.emplace(options.hosts_file, options.cluster_domain);
  }

  // The node's zone (from its Node object) for topology hints. A change
  // re-plans every service, as a restart would.
  void set_zone(const std::string& zone) {
    if (zone == settings_.node.zone) return;
    spdlog::info("this node's zone is now \"{}\" (label topology.kubernetes.io/zone of Node {})", zone,
                 settings_.node.node_name);
    settings_.node.zone = zone;
    finish_removals();  // a new syncer reads the maps back, and removes what is left anyway
    make_syncer();
    objects_.mark_all_dirty();
  }

  // A manifest changed: the next sync includes it.
  void changed(std::chrono::steady_clock::time_point noticed) {
    health_.change_received(noticed);
    if (!first_unsynced_change_) first_unsynced_change_ = noticed;
  }

  // true when the sync went through; false to retry later. `resync`: the
  // periodic full one. Throws only when the commit of a migration fails.
  bool sync(bool resync = false) {
    ++number_;
    auto read_start = std::chrono::steady_clock::now();
    SourceUpdate update;
    try {
      update = source_.read();
    } catch (const std::exception& e) {
      log_sync_failed(number_, "read", failure(e), kRetryAfterFailure);
      metrics_.sync_failed();
      status_failed("read", failure(e));
      return false;
    }
    objects_.apply(update);
    log_diagnostics(number_, update.diagnostics);
    SyncReport report;
    report.sync = number_;
    report.resync = resync;
    report.from_api = options_.api.has_value();
    report.files = report.from_api ? 0 : update.origins;
    report.parsed = update.parsed;
    report.read = std::chrono::steady_clock::now() - read_start;
    count(update.diagnostics, report);
    SyncResult r;
    try {
      maps_empty_ = false;  // from this attempt on they may hold something (a failed one: the syncer reads them back)
      r = resync ? syncer_->resync(objects_) : syncer_->sync(objects_);
    } catch (const std::exception& e) {
      log_sync_failed(number_, "apply", failure(e), kRetryAfterFailure);
      metrics_.sync_failed();
      status_failed("apply", failure(e));
      triggers_.insert(triggers_.end(), update.change_triggers.begin(), update.change_triggers.end());
      // the last sync's removals went (or the maps are read back next time)
      if (auto done = syncer_->take_finished_removals()) removals_done(*done);
      else if (removals_sync_ && !syncer_->removals_pending()) close_after_removals();
      return false;
    }
    if (r.earlier_removals) removals_done(*r.earlier_removals);
    if (commit_) std::exchange(commit_, nullptr)();
    std::optional<std::chrono::steady_clock::time_point> change = first_unsynced_change_;
    if (first_unsynced_change_) {
      report.since_change = std::chrono::steady_clock::now() - *first_unsynced_change_;
      report.since_change_served = r.served_at - *first_unsynced_change_;
    }
    first_unsynced_change_.reset();
    log_diagnostics(number_, r.diagnostics);
    count(r.diagnostics, report);
    // before the event: who sees it may read the metrics and the hosts file
    record(r, update.change_triggers);
    write_hosts(r);
    if (publish_status_)
      publish_status_({{"failing", false},
                       {"last_sync",
                        {{"sync", number_},
                         {"at", now_rfc3339()},
                         {"took_ms", std::chrono::duration<double, std::milli>(r.took).count()},
                         {"services", r.summary.services},
                         {"backends", r.summary.backends},
                         {"held", r.summary.held},
                         {"errors", report.errors},
                         {"warnings", report.warnings}}}});
    log_sync(report, r);
    if (resync && r.writes && update.empty())
      spdlog::warn("sync {}: the maps had drifted from the desired state; {} entries repaired", number_, r.writes);
    // the first sync too: pods may have gone while no agent ran
    close_sockets_ = close_sockets_ || !r.gone_tcp_endpoints.empty() || r.backends_freed || number_ == 1;
    gone_tcp_.insert(gone_tcp_.end(), r.gone_tcp_endpoints.begin(), r.gone_tcp_endpoints.end());
    if (r.removals_pending) {
      // after the removals: a connected UDP socket is closed when its backend entry is gone
      removals_sync_ = number_;
      removals_change_ = change;
    } else {
      close_after_removals();
    }
    return true;
  }

  // Readable once the last sync's removals may be applied; -1 when none wait.
  int removals_ready_fd() const { return syncer_->removals_pending() ? syncer_->removals_ready_fd() : -1; }

  // Applies the last sync's removals, waiting for the rest of their grace
  // period. false when they failed: a sync must read the maps back.
  bool finish_removals() {
    if (!syncer_->removals_pending()) return true;
    try {
      if (auto done = syncer_->finish_removals()) removals_done(*done);
      return true;
    } catch (const std::exception& e) {
      log_sync_failed(removals_sync_, "cleanup", e.what(), kRetryAfterFailure);
      metrics_.sync_failed();
      status_failed("cleanup", e.what());
      close_after_removals();
      return false;
    }
  }

  // What `socklb status` reads: merged into the agent's status file.
  void on_status(std::function<void(const nlohmann::json&)> publish) { publish_status_ = std::move(publish); }

  void expire_affinity() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    try {
      std::size_t n = syncer_->expire_affinity(uint64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec);
      if (n) spdlog::debug("removed {} expired affinity entr{}", n, n == 1 ? "y" : "ies");
    } catch (const std::exception& e) {
      spdlog::warn("cannot remove expired affinity entries: {}", e.what());
    }
  }

 private:
  void make_syncer() {
    syncer_.emplace(maps_, settings_, observer_);
    syncer_->defer_removals();
    if (maps_empty_) syncer_->maps_created_empty();
  }

  void status_failed(const char* stage, const std::string& message) {
    if (publish_status_)
      publish_status_({{"failing", true},
                       {"last_failure", {{"sync", number_}, {"at", now_rfc3339()}, {"stage", stage}, {"message", message}}}});
  }

  // Metrics and health after a sync that went through.
  void record(const SyncResult& r, const std::vector<std::chrono::system_clock::time_point>& triggers) {
    metrics_.sync_done({r.took, r.summary.services, r.summary.backends, r.map_entries, r.map_capacity});
    health_.synced(std::chrono::steady_clock::now(), r.summary.services);
    // when the serving writes were done, on the clock the triggers use
    auto served = std::chrono::system_clock::now() -
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::steady_clock::now() - r.served_at);
    triggers_.insert(triggers_.end(), triggers.begin(), triggers.end());
    // changes from before this agent started are not its latency (a file
    // written last week, a slice unchanged for days)
    for (auto t : triggers_)
      if (t >= started_) metrics_.network_programmed(served - t);
    triggers_.clear();
  }

  // Only when services or ClusterIPs came or went: at 100,000 services the
  // file is megabytes.
  void write_hosts(const SyncResult& r) {
    if (!hosts_ || !syncer_->served()) return;
    if (hosts_written_ && !r.summary.added && !r.summary.removed) return;
    try {
      hosts_->update(*syncer_->served());
      hosts_written_ = true;
    } catch (const std::exception& e) {
      spdlog::warn("sync {}: {}", number_, e.what());
    }
  }

  // A failed sync's error; while a migration waits for its first sync, also
  // what that means for traffic.
  std::string failure(const std::exception& e) const {
    if (!commit_) return e.what();
    return std::string(e.what()) + " (into the new maps of a layout migration: nothing is switched yet, the pinned "
                                   "datapath keeps serving untouched until a sync into them goes through)";
  }

  void removals_done(const RemovalsDone& done) {
    log_cleanup(removals_sync_, done, removals_change_);
    close_after_removals();
  }

  void close_after_removals() {
    removals_sync_ = 0;
    removals_change_.reset();
    if (std::exchange(close_sockets_, false)) close_stale_sockets(std::exchange(gone_tcp_, {}));
  }

  void close_stale_sockets(const std::vector<ReverseKey>& gone_tcp) {
    // made at first use: after a migration's commit, its iterators use the new maps' pins
    if (!closer_tried_) {
      closer_tried_ = true;
      try {
        closer_.emplace(options_.bpffs_dir, options_.cgroup);
      } catch (const std::exception& e) {
        spdlog::warn("connected sockets of removed backends will not be closed: {}", e.what());
      }
    }
    if (!closer_) return;
    try {
      if (int n = closer_->close_stale(gone_tcp); n > 0) log_sockets_closed(number_, n);
    } catch (const std::exception& e) {
      spdlog::warn("sync {}: cannot close sockets of removed backends: {}", number_, e.what());
    }
  }

  static void count(const Diagnostics& diagnostics, SyncReport& report) {
    for (const auto& d : diagnostics) (d.severity == Diagnostic::Severity::Error ? report.errors : report.warnings)++;
  }

  const AgentOptions& options_;
  AgentMetrics& metrics_;
  AgentHealth& health_;
  std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
  std::vector<std::chrono::system_clock::time_point> triggers_;  // of changes a failed sync did not apply
  bool closer_tried_ = false;
  std::optional<StaleSocketCloser> closer_;
  std::optional<HostsFile> hosts_;
  bool hosts_written_ = false;
  ObjectSource& source_;
  MapStore& maps_;
  ReconcileSettings settings_;
  ApplyObserver observer_;
  ObjectStore objects_;  // every object the source reported, with what changed since the last sync
  std::optional<Syncer> syncer_;  // made anew when the settings change
  std::function<void()> commit_;
  bool maps_empty_;  // until the first sync's attempt: the maps hold nothing
  std::function<void(const nlohmann::json&)> publish_status_;
  int number_ = 0;
  // when the oldest change no sync has applied yet reached the agent
  std::optional<std::chrono::steady_clock::time_point> first_unsynced_change_;
  // The sync whose removals wait for their grace period (0: none), and when
  // its change reached the agent.
  int removals_sync_ = 0;
  std::optional<std::chrono::steady_clock::time_point> removals_change_;
  // Sockets to close once the removals are done.
  bool close_sockets_ = false;
  std::vector<ReverseKey> gone_tcp_;
};

void clear_abandoned_trace_of(const std::filesystem::path& bpffs) {
  try {
    if (auto pid = clear_abandoned_trace(bpffs)) log_trace_cleared(*pid);
  } catch (const std::exception& e) {
    spdlog::debug("cannot check the trace flag: {}", e.what());
  }
}

// A watch of the manifests; none when it cannot be made (the loop tries
// again). Once it watches, the source trusts the stamps of files it does not
// name; what changed before it existed is unknown, so the next read reads all.
std::optional<ManifestWatch> try_watch(const std::filesystem::path& manifests, ManifestSource& source) {
  try {
    std::optional<ManifestWatch> watch(std::in_place, manifests);
    source.changed({.all = true});
    return watch;
  } catch (const std::exception& e) {
    spdlog::warn("cannot watch {}: {}; retrying", manifests.string(), e.what());
    return std::nullopt;
  }
}

}  // namespace

int run_agent(const AgentOptions& options) {
  std::optional<FaultPoint> fault = fault_point_from_environment();  // a wrong value stops the start here
  if (fault)
    spdlog::warn("{}={} is set: this agent stops itself (SIGSTOP) before apply phase {} of its first sync with map "
                 "writes; it is for tests, unset it otherwise",
                 kFaultVariable, fault->str(), fault->phase);
  // Blocked before any thread starts (the API's reflectors, the HTTP
  // endpoints): threads inherit the mask, so SIGTERM reaches this loop
  // rather than ending the process where it stands.
  UniqueFd signals = termination_signals();
  require_bpf_privileges();
  require_btf();
  require_cgroup2_dir(options.cgroup);
  // fail fast on a wrong path or credentials, before touching the kernel
  std::unique_ptr<ObjectSource> source;
  KubeSource* kube = nullptr;
  ManifestSource* manifests = nullptr;  // told by the watch what changed
  if (options.api) {
    if (options.api->insecure)
      spdlog::warn("{} skips TLS verification (insecure-skip-tls-verify): anyone between this node and {} can feed "
                   "socklb services and redirect this node's connections; give the cluster's CA instead",
                   options.api->origin, options.api->server);
    auto k = std::make_unique<KubeSource>(KubeSourceOptions{*options.api, options.reconcile.node.node_name});
    kube = k.get();
    source = std::move(k);
  } else {
    list_manifest_files(options.manifests);
    auto m = std::make_unique<ManifestSource>(options.manifests);
    manifests = m.get();
    source = std::move(m);
  }
  std::optional<ManifestWatch> watch;
  std::unique_ptr<PrefetchedSource> prefetch;
  if (manifests) {
    // watched before the first read: a change after it is seen
    watch = try_watch(options.manifests, *manifests);
    prefetch = std::make_unique<PrefetchedSource>(*source);
  }
  // the manifest source is used only on this thread once the early read is done
  auto tell_manifests = [&](const ManifestReader::ChangedFiles& files) {
    if (prefetch) prefetch->wait();
    manifests->changed(files);
  };
  prepare_bpffs_dir(options.bpffs_dir);

  auto datapath = Datapath::load({options.bpffs_dir, options.cgroup, options.capacities});
  // The syncer carries the decoded kernel state from one sync to the next
  // and reads the maps back only at start and after a failed write.
  auto maps = datapath->maps();
  bool datapath_was_new = datapath->maps_created_empty();
  // /metrics reads the counters at each scrape through descriptors of its
  // own (the HTTP threads never share the agent's descriptors or readers), of
  // the maps these programs count in: after a resize the new copies, while a
  // layout migration is staged its new maps (zero until it is committed; the
  // old programs count in the old ones, of another layout, meanwhile).
  std::shared_ptr<PinnedMaps> counter_maps = datapath->maps();
  std::size_t links = 0;  // attached by this agent, once committed
  auto commit = [&] {
    InstallReport installed = datapath->commit();
    datapath.reset();  // the pins hold the programs and maps now
    links = static_cast<std::size_t>(installed.links_created + installed.links_updated);
    for (const auto& note : installed.notes) spdlog::warn("{}", note);
    log_datapath_installed(options.bpffs_dir, options.cgroup, installed);
    if (installed.migration) log_layout_migrated(options.bpffs_dir, *installed.migration);
  };
  std::function<void()> commit_after_first_sync;
  if (datapath->migrating()) {
    // the old programs and maps serve until the new maps hold every service
    log_layout_migration_staged(options.bpffs_dir, *datapath->migration());
    commit_after_first_sync = commit;
  } else {
    commit();
  }
  AgentMetrics metrics;
  AgentHealth health([&] { return attachment_problem(options.bpffs_dir, options.cgroup, links); },
                     options.health_timeout);
  if (kube)
    metrics.set_source_counters([kube] {
      KubeSourceStats s = kube->stats();
      return SourceCounters{s.watch_restarts, s.relists, s.errors_by_code};
    });
  metrics.set_datapath_counters([counter_maps, per_service = options.metrics_per_service, lock = std::make_shared<std::mutex>()] {
    std::lock_guard guard(*lock);
    return read_datapath_counters(*counter_maps, per_service);
  });
  if (kube) health.waiting_for("the first complete list from " + options.api->server);
  HttpEndpoints http(options.health_addr, options.metrics_addr, health, metrics);
  log_http_endpoints(http.health_port(), http.metrics_port());
  Agent agent(options, prefetch ? *prefetch : *source, *maps, datapath_was_new, fault, metrics, health,
              std::move(commit_after_first_sync));
  nlohmann::json status = {
      {"pid", getpid()},
      {"started", now_rfc3339()},
      {"source", kube ? "the Kubernetes API at " + options.api->server : "manifests " + options.manifests.string()},
      {"bpffs", options.bpffs_dir.string()},
      {"cgroup", options.cgroup.string()},
      {"health_port", http.health_port()},
      {"metrics_port", http.metrics_port()},
      {"waiting_for", kube ? "the first complete list from " + options.api->server : "the first sync"},
      {"failing", false}};
  fs::path status_file = status_file_for(options.bpffs_dir);
  bool status_warned = false;
  auto publish_status = [&](const nlohmann::json& patch) {
    status.merge_patch(patch);
    status["links"] = links;
    try {
      write_status_file(status_file, status);
    } catch (const std::exception& e) {
      if (!std::exchange(status_warned, true)) spdlog::warn("`socklb status` will not see this agent: {}", e.what());
    }
  };
  publish_status(nlohmann::json::object());
  agent.on_status(publish_status);
  // The first sync: at once from files; from the API once everything has
  // been listed (until then the pinned state keeps serving as it is).
  bool pending = !kube;
  if (kube)
    spdlog::info("waiting for the first complete list of services and endpointslices from {}; the datapath pinned "
                 "under {} keeps serving meanwhile",
                 options.api->server, options.bpffs_dir.string());
  bool zone_from_node = kube && options.reconcile.node.zone.empty();
  auto retry_at = std::chrono::steady_clock::now();
  auto expire_at = retry_at + kAffinityExpiry;
  auto resync_at = retry_at + options.full_resync;

  for (;;) {
    health.loop_alive(std::chrono::steady_clock::now());
    if (!kube && !watch) {
      if (prefetch) prefetch->wait();
      watch = try_watch(options.manifests, *manifests);
    }
    if (pending && std::chrono::steady_clock::now() >= retry_at) {
      if (zone_from_node)
        if (auto zone = kube->zone()) agent.set_zone(*zone);
      pending = !agent.sync();
      if (pending) retry_at = std::chrono::steady_clock::now() + kRetryAfterFailure;
    }
    auto now = std::chrono::steady_clock::now();
    bool started = !kube || kube->listed();
    if (!pending && started && now >= resync_at) {
      if (manifests) tell_manifests({.all = true});  // the safety net trusts no stamp
      pending = !agent.sync(true);
      if (pending) retry_at = std::chrono::steady_clock::now() + kRetryAfterFailure;
      resync_at = std::chrono::steady_clock::now() + options.full_resync;
      now = std::chrono::steady_clock::now();
    }
    if (now >= expire_at) {
      agent.expire_affinity();
      // not while a migration is staged: the pinned flag is the old layout's
      if (!datapath) clear_abandoned_trace_of(options.bpffs_dir);
      expire_at = now + kAffinityExpiry;
    }
    int news = kube ? kube->fd() : watch ? watch->fd() : -1;
    pollfd fds[3] = {{signals.get(), POLLIN, 0}, {news, POLLIN, 0}, {agent.removals_ready_fd(), POLLIN, 0}};
    auto wake = std::min(expire_at, resync_at);
    if (pending || news < 0) wake = std::min(wake, now + kRetryAfterFailure);
    int timeout = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wake - now).count());
    if (poll(fds, 3, timeout) < 0 && errno != EINTR) throw SystemError("poll", errno);
    if (fds[0].revents & POLLIN) {
      agent.finish_removals();  // at most one grace period: the pinned maps keep nothing stale
      log_stopping(signal_received(signals.get()), options.bpffs_dir);
      return 0;
    }
    if (fds[2].fd >= 0 && (fds[2].revents & POLLIN) && !agent.finish_removals()) {
      pending = true;
      retry_at = std::chrono::steady_clock::now() + kRetryAfterFailure;
    }
    if (news >= 0 && (fds[1].revents & POLLIN)) {
      // No waiting for a burst to settle: what arrived is applied now, and
      // what arrives meanwhile goes out in one batch with the next sync, so
      // under a stream of changes each is applied within about two syncs.
      // Files are read when complete (IN_CLOSE_WRITE, IN_MOVED_TO); the API's
      // news is read by the sync itself (which clears the fd).
      auto noticed = std::chrono::steady_clock::now();
      bool relevant = kube != nullptr;
      if (!kube) {
        ManifestWatch::Changes changes = watch->drain();
        tell_manifests(changes.files);
        relevant = changes.relevant;
      }
      if (relevant) {
        agent.changed(noticed);
        pending = true;
        retry_at = noticed;
      }
    }
  }
}

}  // namespace socklb
