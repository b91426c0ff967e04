#include "cli/trace_command.h"

#include <bpf/libbpf.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <set>
#include <unordered_map>

#include "cli/trace_view.h"
#include "kernel/pinned_maps.h"
#include "kernel/trace_control.h"
#include "maps/map_codec.h"
#include "sys/sys_error.h"

namespace socklb {
namespace {

// How often the ring buffer is read (the programs wake the reader only when
// it fills up: bpf/trace.h) and lost events looked for.
constexpr std::chrono::milliseconds kTick{SOCKLB_TRACE_POLL_MS};
// Service ids change owner only after a quarantine of at least one sync:
// names read within the last second are good enough for a trace.
constexpr std::chrono::seconds kNamesFresh{1};
// How often the tracer checks that its ring buffer is still the pinned one.
constexpr int kTicksPerPinCheck = 10;

struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

// The names of service ids, from service_names, read as events need them.
class ServiceNames {
 public:
  explicit ServiceNames(const MapStore& maps) : maps_(maps) {}

  void name(TraceDecision& d) {
    if (!d.service_id) return;
    expire();
    auto it = cache_.find(d.service_id);
    if (it == cache_.end()) {
      std::optional<socklb_service_name> found;
      auto entries = maps_.lookup(MapId::ServiceNames, {to_bytes(d.service_id)});
      if (!entries.empty()) found = from_bytes<socklb_service_name>(entries[0].second);
      it = cache_.emplace(d.service_id, found).first;
    }
    if (!it->second) return;
    const auto& n = *it->second;
    d.service = ServiceRef{name_field(n.ns, sizeof(n.ns)), name_field(n.name, sizeof(n.name))};
    d.port_name = name_field(n.port_name, sizeof(n.port_name));
  }

  // The ClusterIPs of a service now: a refusal for no such port names no
  // service, only the ClusterIP.
  const std::set<IpAddress>& cluster_ips(const ServiceRef& service) {
    expire();
    if (!vips_) {
      vips_.emplace();
      std::vector<Bytes> ids;
      for (const auto& [key, value] : maps_.dump(MapId::ServiceNames)) {
        auto n = from_bytes<socklb_service_name>(value);
        if (ServiceRef{name_field(n.ns, sizeof(n.ns)), name_field(n.name, sizeof(n.name))} == service) ids.push_back(key);
      }
      for (const auto& [key, value] : maps_.lookup(MapId::ServiceState, ids))
        vips_->insert(state_key(from_bytes<socklb_service_state>(value)).vip);
    }
    return *vips_;
  }

 private:
  void expire() {
    auto now = std::chrono::steady_clock::now();
    if (now - read_at_ < kNamesFresh) return;
    cache_.clear();
    vips_.reset();
    read_at_ = now;
  }

  const MapStore& maps_;
  std::unordered_map<uint32_t, std::optional<socklb_service_name>> cache_;
  std::optional<std::set<IpAddress>> vips_;
  std::chrono::steady_clock::time_point read_at_ = std::chrono::steady_clock::now();
};

class Tracer {
 public:
  Tracer(const TraceOptions& options, const MapStore& maps) : options_(options), names_(maps) {}

  // The ring buffer's callback. A negative return stops the consumption:
  // the count is reached, or stdout is gone.
  int on_event(ByteView raw) {
    auto d = decode_trace_event(raw);
    if (!d) {
      ++undecodable_;
      return 0;
    }
    // left in the ring buffer by an earlier tracer that was killed
    if (d->time_ns < started_ns_) return 0;
    names_.name(*d);
    if (options_.service && !matches(*d)) return 0;
    if (options_.json) std::cout << render_trace_json(*d, clock_).dump() << "\n";
    else std::cout << render_trace_line(*d, clock_);
    ++shown_;
    if (!std::cout) return -EPIPE;
    return options_.count && shown_ >= options_.count ? -ECANCELED : 0;
  }

  void start(uint64_t drops) {
    started_ns_ = monotonic_ns();
    clock_ = TraceClock::now();
    reported_drops_ = drops;
    if (!options_.json) std::cout << trace_table_header() << std::flush;
  }

  // Reports the events lost since the last report.
  void lost(uint64_t drops) {
    if (drops <= reported_drops_) return;
    uint64_t n = drops - reported_drops_;
    reported_drops_ = drops;
    lost_ += n;
    if (options_.json) std::cout << render_lost_json(n, std::chrono::system_clock::now()).dump() << "\n";
    else std::cout << render_lost_line(n);
  }

  bool done() const { return options_.count && shown_ >= options_.count; }
  uint64_t shown() const { return shown_; }
  uint64_t lost_total() const { return lost_; }
  uint64_t undecodable() const { return undecodable_; }

 private:
  static uint64_t monotonic_ns() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return uint64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
  }

  bool matches(const TraceDecision& d) {
    if (d.service) return *d.service == *options_.service;
    return d.reason == "no-such-port" && names_.cluster_ips(*options_.service).count(d.dialled.vip);
  }

  const TraceOptions& options_;
  ServiceNames names_;
  TraceClock clock_;
  uint64_t started_ns_ = 0, reported_drops_ = 0, shown_ = 0, lost_ = 0, undecodable_ = 0;
};

int on_ring_event(void* ctx, void* data, size_t size) {
  return static_cast<Tracer*>(ctx)->on_event(ByteView(static_cast<const uint8_t*>(data), size));
}

UniqueFd stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw SystemError("sigprocmask", errno);
  // a reader of stdout that went away is seen as a failed write, not a signal
  signal(SIGPIPE, SIG_IGN);
  UniqueFd fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) throw SystemError("signalfd", errno);
  return fd;
}

}  // namespace

std::optional<ServiceRef> parse_service_ref(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() || text.find('/', slash + 1) != std::string::npos)
    return std::nullopt;
  return ServiceRef{text.substr(0, slash), text.substr(slash + 1)};
}

int trace_command(const TraceOptions& options) {
  UniqueFd signals = stop_signals();
  auto maps = PinnedMaps::open(options.bpffs_dir, /*read_only=*/true);
  // from here on the flag is ours: every way out below turns it off
  TraceControl control(options.bpffs_dir);
  if (auto pid = control.abandoned_by())
    std::cerr << "socklb trace: the trace of pid " << *pid
              << " was still on (that tracer was killed); turned it off and took over\n";
  Tracer tracer(options, *maps);
  std::unique_ptr<ring_buffer, RingBufferDeleter> rb(
      ring_buffer__new(control.events_fd(), on_ring_event, &tracer, nullptr));
  if (!rb) throw SystemError("cannot read the trace ring buffer", errno);
  tracer.start(control.drops());
  control.turn_on();
  std::cerr << "socklb trace: tracing the decisions of the programs pinned under " << options.bpffs_dir.string()
            << (options.service ? " for " + options.service->str() : std::string()) << " (Ctrl-C to stop)\n";

  bool stopped = false, replaced = false;
  for (int tick = 1; !stopped && !tracer.done(); ++tick) {
    pollfd fds[2] = {{signals.get(), POLLIN, 0}, {ring_buffer__epoll_fd(rb.get()), POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(kTick.count())) < 0 && errno != EINTR) throw SystemError("poll", errno);
    if (fds[0].revents & POLLIN) stopped = true;
    int rc = ring_buffer__consume(rb.get());
    if (rc == -EPIPE) break;
    if (rc < 0 && rc != -ECANCELED) throw SystemError("reading the trace ring buffer", -rc);
    if (!tracer.done()) tracer.lost(control.drops());  // else: once, below
    std::cout.flush();
    if (!std::cout) break;  // stdout closed (| head): done
    if (tick % kTicksPerPinCheck == 0 && control.maps_replaced()) {
      replaced = true;
      break;
    }
  }
  control.turn_off();
  if (std::cout) {
    // what was decided before the flag went off, and what was lost
    if (!tracer.done()) {
      int rc = ring_buffer__consume(rb.get());
      if (rc < 0 && rc != -ECANCELED && rc != -EPIPE) throw SystemError("reading the trace ring buffer", -rc);
    }
    tracer.lost(control.drops());
    std::cout.flush();
  }
  std::cerr << "socklb trace: " << tracer.shown() << " decision" << (tracer.shown() == 1 ? "" : "s") << " shown, "
            << tracer.lost_total() << " lost";
  if (tracer.undecodable()) std::cerr << ", " << tracer.undecodable() << " not of this socklb version";
  std::cerr << "\n";
  if (replaced) {
    std::cerr << "socklb trace: the maps pinned under " << options.bpffs_dir.string()
              << " were replaced (an agent of another version migrated them to its layout, or `socklb uninstall` "
                 "removed them): no more decisions come to this trace; start it again\n";
    return 1;
  }
  return 0;
}

}  // namespace socklb
