#pragma once
// Helpers for the plan tests: desired states built in code, one sync step
// (plan + apply against the fake store, every write checked), and checks of
// the kernel state read back (served.h: in the shape of the desired one).

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <stdexcept>
#include <optional>
#include <string>
#include <vector>

#include "maps/kernel_state.h"
#include "fake_map_store.h"
#include "plan/apply_plan.h"
#include "plan/plan.h"
#include "served.h"

namespace socklb::test {

inline IpAddress addr(const char* text) {
  auto ip = IpAddress::parse(text);
  if (!ip) throw std::invalid_argument(std::string("not an IP address in the test: ") + text);
  return *ip;
}

inline ServiceKey skey(const char* vip, uint16_t port, Protocol protocol = Protocol::TCP) {
  return {addr(vip), port, protocol};
}

inline Backend be(const char* ip, uint16_t port, BackendState state = BackendState::Active) {
  return {addr(ip), port, state};
}

// n ready backends 10.244.<subnet>.1..n on `port`: more than 8 are kept in
// the slots map, 8 or fewer in the service's state entry.
inline std::vector<Backend> many(int n, int subnet = 9, uint16_t port = 80) {
  std::vector<Backend> out;
  for (int i = 1; i <= n; ++i) {
    std::string ip = "10.244." + std::to_string(subnet) + "." + std::to_string(i);
    out.push_back(be(ip.c_str(), port));
  }
  return out;
}

inline DesiredService dsvc(const std::string& name, std::vector<Backend> backends, uint32_t affinity = 0,
                           const std::string& port_name = "") {
  std::sort(backends.begin(), backends.end());
  return {{"default", name}, port_name, affinity, std::move(backends)};
}

inline PlanLimits limits_with_quarantine(const FakeMapStore& store) {
  PlanLimits limits = limits_of(store);
  store.quarantine.restrict(limits);
  return limits;
}

// How many entries a plan writes (or removes) in one map.
inline std::size_t entries(const Plan& plan, MapId map, PlanOp op) {
  std::size_t n = 0;
  for (const auto& step : plan.steps)
    if (step.map == map && step.op == op) n += step.count;
  return n;
}

// The state entry a service key is served by; throws when there is none.
inline socklb_service_state state_of(const KernelState& k, const ServiceKey& key) {
  const socklb_service_state* state = k.served(key);
  if (!state) throw std::runtime_error("no service state for " + key.str());
  return *state;
}

// Entries nothing uses: left behind, they would fill the maps over time.
inline std::string garbage(const KernelState& k) {
  std::size_t slots = 0;
  std::map<IpAddress, uint32_t> ports;
  std::set<uint32_t> ids;
  for (const auto& [key, id] : k.services) {
    if (const auto* state = k.served(key); state && !backends_inline(state->backend_count)) slots += state->backend_count;
    ++ports[key.vip];
    ids.insert(id);
  }
  std::size_t orphan_backends = 0;
  for (const auto& [_, b] : k.backends) orphan_backends += !ids.count(b.service_id);
  std::map<IpAddress, uint32_t> vips;
  for (const auto& [ip, value] : k.addrs)
    if (addr_is_vip(value)) vips[ip] = value.refs;
  std::string out;
  if (k.slots.size() != slots) out += std::to_string(k.slots.size()) + " slots for " + std::to_string(slots) + " live; ";
  if (orphan_backends) out += std::to_string(orphan_backends) + " backends of no service; ";
  if (k.names.size() != k.services.size()) out += std::to_string(k.names.size()) + " names; ";
  if (k.states.size() != k.services.size()) out += std::to_string(k.states.size()) + " states; ";
  if (vips != ports) out += "VIP entries differ from the services' ClusterIPs; ";
  return out;
}

// Every intermediate state serves, for every key, its old backends or its
// new ones: never a mix, never something else.
inline FakeMapStore::Checker old_or_new(const KernelState& before, const ServedMap& after) {
  std::map<ServiceKey, std::optional<std::vector<Backend>>> old_sets = live_sets(before);
  // a slot set as addresses: the state of an entry may change before the
  // flip (a pod turning terminating keeps its slot until then)
  auto addresses = [](std::vector<Backend> v) {
    for (auto& b : v) b.state = BackendState::Active;
    return v;
  };
  auto chosen = [](std::vector<Backend> v) {
    std::erase_if(v, [](const Backend& b) { return !chosen_for_new_connects(b.state); });
    return v;
  };
  return [old_sets, after, addresses, chosen](const FakeMapStore& store) {
    std::vector<std::string> problems = datapath_invariant_violations(store);
    for (const auto& [key, live] : live_sets(read_kernel_state(store))) {
      if (!live) continue;  // reported by the invariant
      auto old = old_sets.find(key);
      bool is_old = old != old_sets.end() && (!old->second || addresses(*old->second) == addresses(*live));
      bool is_new = after.count(key) && addresses(chosen(after.at(key).backends)) == addresses(*live);
      if (!is_old && !is_new) problems.push_back(key.str() + " serves neither its old nor its new backends");
    }
    return problems;
  };
}

// One sync step: plan from what the store holds, apply with every single
// write checked. Returns the plan for the test to inspect.
inline Plan sync_step(FakeMapStore& store, const DesiredState& desired, const ServedMap& expected) {
  KernelState before = read_kernel_state(store);
  Plan plan = make_plan(desired, before, limits_with_quarantine(store));
  store.check_after_every_write(old_or_new(before, expected));
  std::size_t violations_before = store.violations().size();
  apply_plan(plan, store);
  store.quarantine.applied(plan);
  store.check_after_every_write(nullptr);
  std::string seen;
  for (std::size_t i = violations_before; i < store.violations().size() && i < violations_before + 10; ++i)
    seen += store.violations()[i] + "\n";
  CHECK_MESSAGE(store.violations().size() == violations_before, seen);
  return plan;
}

inline Plan sync_step(FakeMapStore& store, const DesiredState& desired) { return sync_step(store, desired, served(desired)); }

inline void check_serves(const FakeMapStore& store, const ServedMap& want) {
  KernelState k = read_kernel_state(store);
  std::string d = diff(served(k), want);
  CHECK_MESSAGE(d.empty(), d);
  std::string g = garbage(k);
  CHECK_MESSAGE(g.empty(), g);
}

}  // namespace socklb::test
