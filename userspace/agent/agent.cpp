#include "agent/agent.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <ctime>
#include <optional>

#include <spdlog/spdlog.h>

#include "agent/manifest_watch.h"
#include "agent/syncer.h"
#include "datapath/pinned_maps.h"
#include "datapath/preflight.h"
#include "datapath/stale_sockets.h"
#include "datapath/sys_error.h"
#include "manifests/manifest_reader.h"

namespace socklb {
namespace {

constexpr std::chrono::seconds kRetryAfterFailure{1};
// How often expired affinity entries are removed. An entry outlives its
// timeout by at most this (the programs ignore an expired one anyway).
constexpr std::chrono::seconds kAffinityExpiry{10};
constexpr std::size_t kChangesLogged = 5;

// "+default/web:http 10.96.0.10:80/TCP, ~... and 12 more"
std::string describe_changes(const std::vector<std::string>& changes) {
  std::string out;
  for (std::size_t i = 0; i < changes.size() && i < kChangesLogged; ++i) out += (i ? ", " : " (") + changes[i];
  if (changes.size() > kChangesLogged) out += fmt::format(" and {} more", changes.size() - kChangesLogged);
  return changes.empty() ? out : out + ")";
}

void log_diagnostics(const Diagnostics& diagnostics) {
  for (const auto& d : diagnostics) {
    if (d.severity == Diagnostic::Severity::Error) spdlog::error("{}", d.str());
    else spdlog::warn("{}", d.str());
  }
}

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

class Agent {
 public:
  Agent(const AgentOptions& options, MapStore& store) : options_(options), syncer_(store, options.reconcile) {
    try {
      closer_.emplace(options.bpffs_dir, options.cgroup);
    } catch (const std::exception& e) {
      spdlog::warn("connected sockets of removed backends will not be closed: {}", e.what());
    }
  }

  // true when the sync went through; false to retry later
  bool sync() {
    ++number_;
    ManifestSet input;
    auto read_start = std::chrono::steady_clock::now();
    try {
      input = reader_.read(options_.manifests);
    } catch (const std::exception& e) {
      spdlog::error("sync {}: {}; the kernel keeps serving what it had", number_, e.what());
      return false;
    }
    log_diagnostics(input.diagnostics);
    double read_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - read_start).count();
    try {
      SyncResult r = syncer_.sync(input);
      log_diagnostics(r.diagnostics);
      const auto& s = r.summary;
      spdlog::info("sync {}: {} services, {} backends from {} files ({} parsed in {:.1f} ms); changed: +{} ~{} -{}{}{}; "
                   "{} map writes in {:.1f} ms",
                   number_, s.services, s.backends, input.files, reader_.last_work().parsed, read_ms, s.added, s.updated,
                   s.removed, describe_changes(s.changes),
                   s.held ? fmt::format(", {} held at their previous state", s.held) : "", r.writes,
                   r.took.count() / 1000.0);
      // the first sync too: pods may have gone while no agent ran
      if (!r.gone_tcp_endpoints.empty() || r.backends_freed || number_ == 1) close_stale_sockets(r.gone_tcp_endpoints);
      return true;
    } catch (const std::exception& e) {
      spdlog::error("sync {} failed: {}; every service is whole (old or new); retrying in {}s", number_, e.what(),
                    kRetryAfterFailure.count());
      return false;
    }
  }

 void expire_affinity() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    try {
      std::size_t n = syncer_.expire_affinity(uint64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec);
      if (n) spdlog::debug("removed {} expired affinity entr{}", n, n == 1 ? "y" : "ies");
    } catch (const std::exception& e) {
      spdlog::warn("cannot remove expired affinity entries: {}", e.what());
    }
  }

 private:
  void close_stale_sockets(const std::vector<ReverseKey>& gone_tcp) {
    if (!closer_) return;
    try {
      if (int n = closer_->close_stale(gone_tcp); n > 0)
        spdlog::info("sync {}: closed {} connected socket{} whose pod is gone", number_, n, n == 1 ? "" : "s");
    } catch (const std::exception& e) {
      spdlog::warn("sync {}: cannot close sockets of removed backends: {}", number_, e.what());
    }
  }

  const AgentOptions& options_;
  std::optional<StaleSocketCloser> closer_;
  Syncer syncer_;
  ManifestReader reader_;
  int number_ = 0;
};

}  // namespace

int run_agent(const AgentOptions& options) {
  require_bpf_privileges();
  require_btf();
  require_cgroup2_dir(options.cgroup);
  list_manifest_files(options.manifests);  // fail fast on a wrong path, before touching the kernel
  prepare_bpffs_dir(options.bpffs_dir);

  InstallReport installed = install_datapath({options.bpffs_dir, options.cgroup, options.capacities});
  for (const auto& note : installed.notes) spdlog::warn("{}", note);
  spdlog::info("datapath at {}: {} maps adopted, {} created, {} resized; attached to {}: {} links switched in place, {} created",
               options.bpffs_dir.string(), installed.maps_adopted, installed.maps_created, installed.maps_resized,
               options.cgroup.string(),
               installed.links_updated, installed.links_created);

  // The syncer carries the decoded kernel state from one sync to the next
  // and reads the maps back only at start and after a failed write.
  auto maps = PinnedMaps::open(options.bpffs_dir, false);
  Agent agent(options, *maps);
  UniqueFd signals = termination_signals();
  std::optional<ManifestWatch> watch;
  bool pending = true;  // the first sync, or a retry
  auto retry_at = std::chrono::steady_clock::now();
  auto expire_at = retry_at + kAffinityExpiry;

  for (;;) {
    if (!watch) {
      try {
        watch.emplace(options.manifests);
      } catch (const std::exception& e) {
        spdlog::warn("cannot watch {}: {}; retrying", options.manifests.string(), e.what());
      }
    }
    if (pending && std::chrono::steady_clock::now() >= retry_at) {
      pending = !agent.sync();
      if (pending) retry_at = std::chrono::steady_clock::now() + kRetryAfterFailure;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= expire_at) {
      agent.expire_affinity();
      expire_at = now + kAffinityExpiry;
    }
    pollfd fds[2] = {{signals.get(), POLLIN, 0}, {watch ? watch->fd() : -1, POLLIN, 0}};
    auto wake = pending || !watch ? std::min(expire_at, now + kRetryAfterFailure) : expire_at;
    int timeout = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wake - now).count());
    if (poll(fds, 2, timeout) < 0 && errno != EINTR) throw SystemError("poll", errno);
    if (fds[0].revents & POLLIN) {
      spdlog::info("stopping; the datapath stays pinned at {} and keeps serving", options.bpffs_dir.string());
      return 0;
    }
    if (watch && (fds[1].revents & POLLIN)) {
      bool changed = watch->drain();
      // let a burst of writes settle, then sync once
      while (poll(&fds[1], 1, static_cast<int>(options.settle.count())) > 0) changed |= watch->drain();
      if (changed) {
        pending = true;
        retry_at = std::chrono::steady_clock::now();
      }
    }
  }
}

}  // namespace socklb
