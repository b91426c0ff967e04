#include "agent/syncer.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

#include "plan/advance_state.h"
#include "plan/apply_plan.h"
#include "sources/object_event.h"
#include "sys/sys_error.h"

namespace socklb {
namespace {

// What a TCP connection made before this agent started may be connected
// to: the pods of its TCP services, as far as the maps tell.
std::vector<ReverseKey> tcp_endpoints_in(const KernelState& kernel) {
  std::vector<ReverseKey> out;
  for (const auto& [endpoint, _] : kernel.reverse) out.push_back(endpoint);
  std::map<uint32_t, Protocol> protocol_of;
  for (const auto& [key, id] : kernel.services) protocol_of[id] = key.protocol;
  for (const auto& [_, backend] : kernel.backends) {
    auto it = protocol_of.find(backend.service_id);
    if (it == protocol_of.end() || it->second != Protocol::TCP) continue;
    Backend b = decode_backend(backend);
    out.push_back({b.ip, b.port, Protocol::TCP});
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

SyncResult Syncer::sync(const ManifestSet& input) {
  ObjectStore objects;
  objects.apply(upserts_of(input));
  reconciler_ = Reconciler(settings_);
  look_at_kernel_services_ = true;
  plan_all_ = true;
  return sync(objects);
}

SyncResult Syncer::resync(ObjectStore& objects) {
  objects.mark_all_dirty();
  reconciler_ = Reconciler(settings_);
  look_at_kernel_services_ = true;
  plan_all_ = true;
  known_.reset();
  return sync(objects);
}

void Syncer::maps_created_empty() {
  if (!first_) throw std::logic_error("the maps were created empty, but this syncer has read them already");
  known_.emplace();
  first_ = false;
}

SyncResult Syncer::sync(ObjectStore& objects) {
  auto start = std::chrono::steady_clock::now();
  SyncResult result;
  // maps read back must not hold what the last sync's removals take away
  if (pending_ && !known_) finished_ = finish_removals();
  if (!known_) {
    KernelState read = read_kernel_state(store_);
    if (first_) {
      // what TCP connections made before this agent started may use
      endpoints_before_ = tcp_endpoints_in(read);
      // ids another agent freed just before it stopped may still be held by
      // a connect: one wait, and none is
      store_.wait_for_readers();
      first_ = false;
    }
    known_ = std::move(read);
    plan_all_ = true;
  }
  KernelState kernel = std::move(*known_);
  known_.reset();  // until this sync's writes all went through

  PlanLimits limits = limits_of(store_);
  quarantine_.restrict(limits);
  ServingNow serving{[&](const ServiceKey& key) -> std::optional<ServiceRef> {
                       auto it = kernel.services.find(key);
                       if (it == kernel.services.end()) return std::nullopt;
                       return kernel.owner(it->second);
                     },
                     [&](const IpAddress& ip) {
                       auto it = kernel.addrs.find(ip);
                       return it != kernel.addrs.end() && addr_is_vip(it->second);
                     }};
  std::set<ServiceRef> also;
  if (look_at_kernel_services_)
    for (const auto& [_, id] : kernel.services) also.insert(kernel.owner(id));
  bool held_everything = reconciler_.desired().hold_everything;
  std::set<ServiceKey> changed = reconciler_.update(objects, serving, also);
  const DesiredState& desired = reconciler_.desired();
  // a hold on every removal lifted (or set): keys no service claims may go
  // (or stay), whoever served them
  if (desired.hold_everything != held_everything) plan_all_ = true;
  std::vector<ReverseKey> before;  // a full plan's: the TCP endpoints listed before it
  Plan plan;
  if (plan_all_) {
    before = std::move(endpoints_before_);
    for (const auto& [endpoint, _] : listing_.by_endpoint)
      if (endpoint.protocol == Protocol::TCP) before.push_back(endpoint);
    std::sort(before.begin(), before.end());
    before.erase(std::unique(before.begin(), before.end()), before.end());
    plan = make_plan(desired, kernel, limits, &listing_);
  } else {
    plan = make_plan(desired, kernel, limits, changed, listing_);
  }
  if (pending_) {
    // the last sync's removals first: this plan may write what they remove
    // (the carried state has them done already). Their grace period ran
    // while this sync read and planned.
    try {
      finished_ = finish_removals();
    } catch (...) {
      plan_all_ = true;  // planned against a state the maps do not hold
      throw;
    }
  }
  auto apply_start = std::chrono::steady_clock::now();
  result.writes = plan.writes();
  try {
    apply_serving_phases(plan, store_, observer_);
  } catch (...) {
    quarantine_.failed(plan);
    // the maps are read back and everything planned anew next time
    plan_all_ = true;
    throw;
  }
  result.served_at = std::chrono::steady_clock::now();
  quarantine_.applied(plan);
  Removals removals = take_removals(plan);
  if (!defer_removals_) {
    try {
      wait_and_apply_removals(removals, store_, observer_);
    } catch (...) {
      plan_all_ = true;
      throw;
    }
  }
  auto apply_took = std::chrono::steady_clock::now() - apply_start;
  advance_state(kernel, std::move(plan.steps));
  advance_state(kernel, removals.plan);  // the state once they are applied
  known_ = std::move(kernel);
  look_at_kernel_services_ = false;
  if (defer_removals_ && !removals.empty()) {
    result.removals_pending = removals.entries();
    start_grace_period(std::move(removals), result.served_at);
  }

  if (plan_all_) {
    std::set_difference(before.begin(), before.end(), plan.tcp_endpoints.begin(), plan.tcp_endpoints.end(),
                        std::back_inserter(result.gone_tcp_endpoints));
  } else {
    result.gone_tcp_endpoints = std::move(plan.gone_tcp_endpoints);
  }
  plan_all_ = false;
  result.summary = plan.summary;
  result.backends_freed = plan.released_backend_ids.size();
  result.diagnostics = desired.diagnostics;
  result.diagnostics.insert(result.diagnostics.end(), plan.diagnostics.begin(), plan.diagnostics.end());
  result.took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  result.apply_took = std::chrono::duration_cast<std::chrono::microseconds>(apply_took);
  result.earlier_removals = take_finished_removals();
  result.map_entries = known_->entries;
  for (const auto& m : kMaps) result.map_capacity[static_cast<std::size_t>(m.id)] = store_.capacity(m.id);
  return result;
}

void Syncer::defer_removals() {
  if (defer_removals_) return;
  grace_ended_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!grace_ended_) throw SystemError("eventfd (for the end of a grace period)", errno);
  defer_removals_ = true;
}

void Syncer::start_grace_period(Removals removals, std::chrono::steady_clock::time_point served_at) {
  int fd = grace_ended_.get();
  bool wait = removals.wait_for_readers();
  MapStore& store = store_;
  // on a thread of its own: the wait is a blocking system call (a
  // map-in-map update returns after synchronize_rcu()), 8-20 ms here, and
  // the next change need not wait for it. When no thread can be made, the
  // wait and the removals happen here (this sync went through already).
  std::future<void> grace;
  try {
    grace = std::async(std::launch::async, [&store, fd, wait] {
      struct Signal {  // the end is signalled even when the wait throws
        int fd;
        ~Signal() {
          uint64_t one = 1;
          [[maybe_unused]] auto n = write(fd, &one, sizeof(one));
        }
      } signal{fd};
      if (wait) store.wait_for_readers();
    });
  } catch (const std::system_error&) {
    std::promise<void> now;
    grace = now.get_future();
    try {
      if (wait) store.wait_for_readers();
      now.set_value();
    } catch (...) {
      now.set_exception(std::current_exception());
    }
    uint64_t one = 1;
    [[maybe_unused]] auto n = write(fd, &one, sizeof(one));
  }
  pending_.emplace(Pending{std::move(removals), served_at, std::move(grace)});
}

std::optional<RemovalsDone> Syncer::finish_removals() {
  if (!pending_) return std::nullopt;
  Pending p = std::move(*pending_);
  pending_.reset();
  uint64_t count = 0;
  try {
    p.grace.get();  // the rest of the grace period, if any; rethrows its failure
    [[maybe_unused]] auto n = read(grace_ended_.get(), &count, sizeof(count));
    apply_removals(p.removals, store_, observer_);
  } catch (...) {
    // the carried state has them done: read the maps back next time
    known_.reset();
    plan_all_ = true;
    throw;
  }
  return RemovalsDone{p.removals.entries(), p.served_at, std::chrono::steady_clock::now()};
}

std::size_t Syncer::expire_affinity(uint64_t now_ns) {
  if (!known_) return 0;  // after a failed write: the next sync reads the maps back first
  std::vector<Bytes> expired;
  for (const auto& [key, value] : store_.dump(MapId::Affinity)) {
    auto k = from_bytes<socklb_affinity_key>(key);
    auto v = from_bytes<socklb_affinity_value>(value);
    auto state = known_->states.find(k.service_id);
    bool wanted = state != known_->states.end() && (state->second.flags & SOCKLB_SERVICE_AFFINITY) &&
                  (now_ns < v.last_used_ns ||
                   now_ns - v.last_used_ns < uint64_t{state->second.affinity_timeout_sec} * 1'000'000'000);
    if (!wanted) expired.push_back(key);
  }
  if (!expired.empty()) store_.remove(MapId::Affinity, expired);
  return expired.size();
}

}  // namespace socklb
