// A long random walk through desired states: after every single map write a
// connect finds each service's old backends or its new ones, and after every
// plan the maps serve exactly the desired state, with nothing left over.

#include <random>

#include "plan_helpers.h"

using namespace socklb;
using namespace socklb::test;

namespace {

class RandomDesired {
 public:
  explicit RandomDesired(uint32_t seed) : rng_(seed) {}

  // A desired state as reconcile() makes them: sorted, de-duplicated
  // backends of the key's family, all active or all terminating.
  DesiredState next() {
    static const char* const kVips[] = {"10.96.0.1", "10.96.0.2", "10.96.0.3", "fd00:10:96::1", "fd00:10:96::2"};
    static const std::pair<uint16_t, Protocol> kPorts[] = {{80, Protocol::TCP}, {81, Protocol::TCP}, {53, Protocol::UDP}};
    static const char* const kNames[] = {"a", "b", "c", "d"};
    static const uint32_t kAffinity[] = {0, 0, 30, 10800};

    DesiredState d;
    if (chance(5)) d.hold_everything = true;
    std::optional<std::string> held;
    if (chance(15)) held = kNames[pick(4)];
    int index = 0;
    for (const char* vip : kVips) {
      for (const auto& [port, protocol] : kPorts) {
        ++index;
        if (!chance(55)) continue;
        std::string name = kNames[(index + (chance(20) ? 1 : 0)) % 4];  // owners change now and then
        if (held == name) continue;
        ServiceKey key = skey(vip, port, protocol);
        d.services[key] = dsvc(name, random_backends(key.vip.is_v4()), kAffinity[pick(4)], chance(50) ? "http" : "");
      }
    }
    if (held) d.held.insert({"default", *held});
    return d;
  }

  bool chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }
  uint32_t pick(uint32_t n) { return rng_() % n; }

 private:
  std::vector<Backend> random_backends(bool v4) {
    static const char* const kV4[] = {"10.244.0.1", "10.244.0.2", "10.244.0.3", "10.244.0.4",
                                      "10.244.1.1", "10.244.1.2", "10.244.1.3", "10.244.1.4"};
    static const char* const kV6[] = {"fd00::1", "fd00::2", "fd00::3", "fd00::4",
                                      "fd00::1:1", "fd00::1:2", "fd00::1:3", "fd00::1:4"};
    // for new connects, all ready or (no ready one left) all terminating;
    // beside them endpoints kept for open flows, or only listed
    BackendState chosen = chance(20) ? BackendState::Terminating : BackendState::Active;
    std::vector<Backend> out;
    // now and then more than a state entry holds (8): those go to the slots map
    uint32_t count = chance(30) ? pick(20) : pick(6);
    for (uint32_t i = 0; i < count; ++i) {
      BackendState state = chance(70) ? chosen : chance(50) ? BackendState::Serving : BackendState::Listed;
      Backend b = be(v4 ? kV4[pick(8)] : kV6[pick(8)], chance(70) ? 8080 : 8081, state);
      bool seen = std::any_of(out.begin(), out.end(), [&](const Backend& o) { return o.ip == b.ip && o.port == b.port; });
      if (!seen) out.push_back(b);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::mt19937 rng_;
};

// The desired services, plus what held services served before.
ServedMap expected_after(const DesiredState& d, const KernelState& before) {
  ServedMap want = served(d);
  ServedMap was = served(before);
  for (const auto& [key, id] : before.services)
    if (!d.services.count(key) && d.is_held(before.owner(id))) want[key] = was[key];
  return want;
}

// Affinity entries the programs would have made for every service with
// affinity; after the next plan, none may point at a service without it.
void fill_affinity(FakeMapStore& store, uint64_t cookie) {
  for (const auto& [id, state] : read_kernel_state(store).states)
    if (state.flags & SOCKLB_SERVICE_AFFINITY)
      store.update(MapId::Affinity, {{to_bytes(socklb_affinity_key{cookie, id, 0}),
                                      to_bytes(socklb_affinity_value{1, 1, 0})}});
}

std::string stale_affinity(const FakeMapStore& store) {
  std::set<uint32_t> with_affinity;
  for (const auto& [id, state] : read_kernel_state(store).states)
    if (state.flags & SOCKLB_SERVICE_AFFINITY) with_affinity.insert(id);
  std::string out;
  for (const auto& [k, _] : store.dump(MapId::Affinity)) {
    uint32_t id = from_bytes<socklb_affinity_key>(k).service_id;
    if (!with_affinity.count(id)) out += "affinity entry for service " + std::to_string(id) + " left; ";
  }
  return out;
}

}  // namespace

TEST_CASE("200 random desired states in a row: never a broken slot, always the desired state") {
  for (uint32_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    FakeMapStore store(4096);
    RandomDesired random(seed);
    std::size_t writes = 0, slot_writes = 0;
    for (int step = 0; step < 200; ++step) {
      CAPTURE(step);
      DesiredState d = random.next();
      KernelState before = read_kernel_state(store);
      ServedMap want = expected_after(d, before);

      Plan plan = sync_step(store, d, want);
      writes += plan.writes();
      slot_writes += entries(plan, MapId::Slots, PlanOp::Write);
      check_serves(store, want);
      std::string stale = stale_affinity(store);
      CHECK_MESSAGE(stale.empty(), stale);

      Plan again = make_plan(d, read_kernel_state(store), limits_of(store));
      CHECK(again.empty());  // applying a plan reaches its desired state in one go
      fill_affinity(store, static_cast<uint64_t>(step) + 1);
      if (store.violations().size() > 0) break;  // one failing step is enough to read
    }
    CHECK(writes > 1000);  // the walk really changed things
    CHECK(slot_writes > 100);  // services large enough for the slots map came and went too
    CHECK(store.operations() > writes);
  }
}

TEST_CASE("random desired states against small maps: the planner's capacity check keeps every write in bounds") {
  for (uint32_t seed : {7u, 8u}) {
    CAPTURE(seed);
    FakeMapStore store;
    store.set_capacity(MapId::ServicesV4, 6);
    store.set_capacity(MapId::ServicesV6, 3);
    store.set_capacity(MapId::AddrsV4, 2);
    store.set_capacity(MapId::AddrsV6, 1);
    store.set_capacity(MapId::ServiceState, 12);
    store.set_capacity(MapId::ServiceNames, 8);
    store.set_capacity(MapId::Backends, 16);
    store.set_capacity(MapId::Slots, 20);
    RandomDesired random(seed);
    std::size_t refused = 0;
    for (int step = 0; step < 200; ++step) {
      CAPTURE(step);
      DesiredState d = random.next();
      KernelState before = read_kernel_state(store);
      ServedMap was = served(before);
      Plan plan = make_plan(d, before, limits_with_quarantine(store));

      // a refused service keeps what it served (or stays absent); the rest is as desired
      ServedMap want = expected_after(d, before);
      for (const auto& diagnostic : plan.diagnostics) {
        if (diagnostic.severity == Diagnostic::Severity::Warning) continue;  // pods left out of addrs: still correct
        ++refused;
        auto key = std::find_if(d.services.begin(), d.services.end(),
                                [&](const auto& entry) { return entry.first.str() == diagnostic.field; });
        REQUIRE(key != d.services.end());
        CHECK(diagnostic.message.find("raise --max-") != std::string::npos);
        if (was.count(key->first)) want[key->first] = was[key->first];
        else want.erase(key->first);
      }
      store.check_after_every_write(old_or_new(before, want));
      CHECK_NOTHROW(apply_plan(plan, store));
      store.quarantine.applied(plan);
      store.check_after_every_write(nullptr);
      std::string seen;
      for (std::size_t i = 0; i < store.violations().size() && i < 5; ++i) seen += store.violations()[i] + "\n";
      CHECK_MESSAGE(store.violations().empty(), seen);
      check_serves(store, want);
      if (!store.violations().empty()) break;
    }
    CHECK(refused > 20);  // the maps really were too small now and then
  }
}
