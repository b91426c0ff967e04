#pragma once
// Helpers for the plan tests: desired states built in code, one sync step
// (plan + apply against the fake store, every write checked), and the kernel
// state read back in the shape of the desired one.

#include <doctest/doctest.h>

#include <map>
#include <stdexcept>
#include <optional>
#include <string>
#include <vector>

#include "datapath/kernel_state.h"
#include "fake_map_store.h"
#include "plan/apply_plan.h"
#include "plan/plan.h"

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

inline DesiredService dsvc(const std::string& name, std::vector<Backend> backends, uint32_t affinity = 0,
                           const std::string& port_name = "") {
  std::sort(backends.begin(), backends.end());
  return {{"default", name}, port_name, affinity, std::move(backends)};
}

inline Capacity capacity_of(const MapStore& store) {
  return {store.capacity(MapId::VipsV4),    store.capacity(MapId::VipsV6), store.capacity(MapId::ServicesV4),
          store.capacity(MapId::ServicesV6), store.capacity(MapId::Slots),  store.capacity(MapId::Backends),
          store.capacity(MapId::ServiceNames)};
}

// What one service entry serves, decoded the way a connect() would see it.
struct Served {
  ServiceRef ref;
  std::string port_name;
  uint32_t affinity_timeout_sec = 0;
  bool fallback = false;
  std::vector<Backend> backends;  // sorted

  bool operator==(const Served&) const = default;
  std::string str() const {
    std::string out = ref.str() + ":" + port_name + " affinity=" + std::to_string(affinity_timeout_sec) +
                      (fallback ? " fallback" : "") + " [";
    for (const auto& b : backends) out += b.str() + (b.state == BackendState::Active ? " " : "(t) ");
    return out + "]";
  }
};

using ServedMap = std::map<ServiceKey, Served>;

inline std::optional<std::vector<Backend>> live_backends(const KernelState& k, const socklb_service_value& value) {
  auto ids = k.live_backend_ids(value);
  if (!ids) return std::nullopt;
  std::vector<Backend> out;
  for (uint32_t id : *ids) {
    auto it = k.backends.find(id);
    if (it == k.backends.end()) return std::nullopt;
    out.push_back(decode_backend(it->second));
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline ServedMap served(const KernelState& k) {
  ServedMap out;
  for (const auto& [key, value] : k.services) {
    Served s;
    s.ref = k.owner(value.id);
    if (auto name = k.names.find(value.id); name != k.names.end())
      s.port_name = name_field(name->second.port_name, sizeof(name->second.port_name));
    s.affinity_timeout_sec = (value.flags & SOCKLB_SERVICE_AFFINITY) ? value.affinity_timeout_sec : 0;
    s.fallback = value.flags & SOCKLB_SERVICE_FALLBACK;
    s.backends = live_backends(k, value).value_or(std::vector<Backend>{});
    out[key] = std::move(s);
  }
  return out;
}

inline Served served(const DesiredService& d) {
  bool fallback = !d.backends.empty() && std::all_of(d.backends.begin(), d.backends.end(), [](const Backend& b) {
    return b.state == BackendState::Terminating;
  });
  return {d.ref, d.port_name, d.affinity_timeout_sec, fallback, d.backends};
}

inline ServedMap served(const DesiredState& desired) {
  ServedMap out;
  for (const auto& [key, d] : desired.services) out[key] = served(d);
  return out;
}

inline std::string diff(const ServedMap& got, const ServedMap& want) {
  std::string out;
  for (const auto& [k, s] : want)
    if (!got.count(k)) out += "missing " + k.str() + " " + s.str() + "\n";
    else if (!(got.at(k) == s)) out += "differs " + k.str() + ": got " + got.at(k).str() + " want " + s.str() + "\n";
  for (const auto& [k, s] : got)
    if (!want.count(k)) out += "extra " + k.str() + " " + s.str() + "\n";
  return out;
}

// Entries nothing uses: left behind, they would fill the maps over time.
inline std::string garbage(const KernelState& k) {
  std::size_t slots = 0;
  std::map<IpAddress, uint32_t> ports;
  for (const auto& [key, value] : k.services) {
    slots += value.backend_count;
    ++ports[key.vip];
  }
  std::string out;
  if (k.slots.size() != slots) out += std::to_string(k.slots.size()) + " slots for " + std::to_string(slots) + " live; ";
  if (k.backends.size() != slots) out += std::to_string(k.backends.size()) + " backends for " + std::to_string(slots) + " live; ";
  if (k.names.size() != k.services.size()) out += std::to_string(k.names.size()) + " names; ";
  if (k.vips != ports) out += "vips differ from the services' ClusterIPs; ";
  return out;
}

// Every intermediate state serves, for every key, its old backends or its
// new ones: never a mix, never something else.
inline FakeMapStore::Checker old_or_new(const KernelState& before, const ServedMap& after) {
  std::map<ServiceKey, std::optional<std::vector<Backend>>> old_sets;
  for (const auto& [key, value] : before.services) old_sets[key] = live_backends(before, value);
  auto addresses = [](std::vector<Backend> v) {
    for (auto& b : v) b.state = BackendState::Active;
    return v;
  };
  return [old_sets, after, addresses](const FakeMapStore& store) {
    std::vector<std::string> problems = datapath_invariant_violations(store);
    KernelState now = read_kernel_state(store);
    for (const auto& [key, value] : now.services) {
      auto live = live_backends(now, value);
      if (!live) continue;  // reported by the invariant
      auto old = old_sets.find(key);
      bool is_old = old != old_sets.end() && (!old->second || addresses(*old->second) == addresses(*live));
      bool is_new = after.count(key) && addresses(after.at(key).backends) == addresses(*live);
      if (!is_old && !is_new) problems.push_back(key.str() + " serves neither its old nor its new backends");
    }
    return problems;
  };
}

// One sync step: plan from what the store holds, apply with every single
// write checked. Returns the plan for the test to inspect.
inline Plan sync_step(FakeMapStore& store, const DesiredState& desired, const ServedMap& expected) {
  KernelState before = read_kernel_state(store);
  Plan plan = make_plan(desired, before, capacity_of(store));
  store.check_after_every_write(old_or_new(before, expected));
  std::size_t violations_before = store.violations().size();
  apply_plan(plan, store);
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
