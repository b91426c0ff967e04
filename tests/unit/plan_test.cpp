// make_plan + apply_plan: adding, updating and removing services, with the
// datapath invariant checked after every single map write.

#include <map>
#include <set>

#include "plan_helpers.h"

using namespace socklb;
using namespace socklb::test;

namespace {

uint32_t backend_id(const KernelState& k, const char* ip, uint16_t port) {
  for (const auto& [id, b] : k.backends)
    if (decode_backend(b).ip == addr(ip) && decode_backend(b).port == port) return id;
  return 0;
}

socklb_service_state service_value(const KernelState& k, const ServiceKey& key) {
  REQUIRE(k.served(key) != nullptr);
  return *k.served(key);
}

void add_affinity(FakeMapStore& store, uint64_t cookie, uint32_t service_id) {
  socklb_affinity_key key{cookie, service_id, 0};
  socklb_affinity_value value{123, 1, 0};
  store.update(MapId::Affinity, {{to_bytes(key), to_bytes(value)}});
}

std::multiset<uint32_t> affinity_service_ids(const FakeMapStore& store) {
  std::multiset<uint32_t> ids;
  for (const auto& [k, _] : store.dump(MapId::Affinity)) ids.insert(from_bytes<socklb_affinity_key>(k).service_id);
  return ids;
}

const ServiceKey kWeb = skey("10.96.0.1", 80);

}  // namespace

TEST_CASE("adding services writes every map; the same desired state again plans nothing") {
  FakeMapStore store;
  DesiredState d;
  d.services[kWeb] = dsvc("web", {be("10.244.0.1", 8080), be("10.244.0.2", 8080)}, 0, "http");
  d.services[skey("10.96.0.1", 443)] = dsvc("web", {be("10.244.0.1", 8443)}, 0, "https");
  d.services[skey("fd00:10:96::1", 53, Protocol::UDP)] = dsvc("dns", {be("fd00::5", 5353)});
  Plan plan = sync_step(store, d);
  CHECK(plan.summary.added == 3);
  CHECK(plan.summary.services == 3);
  CHECK(plan.summary.backends == 4);
  CHECK(plan.summary.changes == std::vector<std::string>{"+default/web:http 10.96.0.1:80/TCP",
                                                         "+default/web:https 10.96.0.1:443/TCP",
                                                         "+default/dns [fd00:10:96::1]:53/UDP"});
  check_serves(store, served(d));

  KernelState k = read_kernel_state(store);
  CHECK(k.addrs.at(addr("10.96.0.1")).refs == 2);
  CHECK(k.addrs.at(addr("fd00:10:96::1")).refs == 1);
  std::set<uint32_t> ids;
  for (const auto& [key, id] : k.services) {
    CHECK(id != 0);
    CHECK(service_value(k, key).revision == 0);
    ids.insert(id);
  }
  CHECK(ids.size() == 3);
  CHECK(store.size(MapId::ServicesV6) == 1);

  Plan again = make_plan(d, k, limits_of(store));
  CHECK(again.empty());
  CHECK(again.summary.unchanged == 3);
  CHECK(again.summary.added + again.summary.updated + again.summary.removed == 0);
}

TEST_CASE("a small service's backends are rewritten in its state entry: no slots, no revision flip") {
  FakeMapStore store;
  DesiredState d;
  d.services[kWeb] = dsvc("web", {be("10.244.0.1", 8080), be("10.244.0.2", 8080)});
  sync_step(store, d);
  KernelState k = read_kernel_state(store);
  const uint32_t b2 = backend_id(k, "10.244.0.2", 8080);
  d.services[kWeb] = dsvc("web", {be("10.244.0.2", 8080), be("10.244.0.3", 8080)});
  Plan plan = sync_step(store, d);
  CHECK(entries(plan, MapId::Slots, PlanOp::Write) == 0);
  CHECK(entries(plan, MapId::ServiceState, PlanOp::Write) == 1);
  check_serves(store, served(d));
  k = read_kernel_state(store);
  CHECK(service_value(k, kWeb).revision == 0);
  CHECK(backend_id(k, "10.244.0.2", 8080) == b2);
  CHECK(store.size(MapId::Slots) == 0);
}

TEST_CASE("updates of a large service fill the unused slot set, flip the revision and reuse the ids of unchanged backends") {
  FakeMapStore store;
  DesiredState d;
  auto nine = many(9);
  d.services[kWeb] = dsvc("web", nine);
  sync_step(store, d);
  KernelState k = read_kernel_state(store);
  const uint32_t id = service_value(k, kWeb).id;
  const uint32_t b1 = backend_id(k, "10.244.9.1", 80), b2 = backend_id(k, "10.244.9.2", 80);

  SUBCASE("a backend added, then one removed, then all replaced, then few, then none") {
    auto ten = nine;
    ten.push_back(be("10.244.9.10", 80));
    d.services[kWeb] = dsvc("web", ten);
    Plan plan = sync_step(store, d);
    CHECK(plan.summary.updated == 1);
    CHECK(entries(plan, MapId::Slots, PlanOp::Write) == 10);
    check_serves(store, served(d));
    k = read_kernel_state(store);
    CHECK(service_value(k, kWeb).revision == 1);
    CHECK(service_value(k, kWeb).id == id);
    CHECK(backend_id(k, "10.244.9.1", 80) == b1);
    CHECK(backend_id(k, "10.244.9.2", 80) == b2);
    for (const auto& [slot, _] : k.slots) CHECK(slot.revision == 1);  // the old set is gone

    std::vector<Backend> without_first(ten.begin() + 1, ten.end());
    d.services[kWeb] = dsvc("web", without_first);
    sync_step(store, d);
    check_serves(store, served(d));
    k = read_kernel_state(store);
    CHECK(service_value(k, kWeb).revision == 0);
    CHECK(backend_id(k, "10.244.9.1", 80) == 0);
    CHECK(backend_id(k, "10.244.9.2", 80) == b2);

    d.services[kWeb] = dsvc("web", many(9, 10, 9090));
    sync_step(store, d);
    check_serves(store, served(d));
    k = read_kernel_state(store);
    CHECK(service_value(k, kWeb).revision == 1);
    CHECK(backend_id(k, "10.244.9.2", 80) == 0);
    CHECK(backend_id(k, "10.244.10.1", 9090) > b2);  // fresh ids, not reused at once

    d.services[kWeb] = dsvc("web", many(3));  // small again: into the state entry, the slots go
    sync_step(store, d);
    check_serves(store, served(d));
    CHECK(store.size(MapId::Slots) == 0);

    d.services[kWeb] = dsvc("web", {});
    sync_step(store, d);
    check_serves(store, served(d));
    CHECK(service_value(read_kernel_state(store), kWeb).backend_count == 0);  // connects are refused
    CHECK(store.size(MapId::Slots) == 0);
    CHECK(store.size(MapId::Backends) == 0);
  }
  SUBCASE("the same address on another port is another backend") {
    auto more = nine;
    more.push_back(be("10.244.9.1", 81));
    d.services[kWeb] = dsvc("web", more);
    sync_step(store, d);
    check_serves(store, served(d));
    k = read_kernel_state(store);
    CHECK(backend_id(k, "10.244.9.1", 80) == b1);
    CHECK(backend_id(k, "10.244.9.1", 81) != b1);
  }
}

TEST_CASE("a backend going active -> terminating is updated in place, without new slots") {
  FakeMapStore store;
  DesiredState d;
  d.services[kWeb] = dsvc("web", {be("10.244.0.1", 8080), be("10.244.0.2", 8080)});
  sync_step(store, d);
  KernelState before = read_kernel_state(store);

  d.services[kWeb] = dsvc("web", {be("10.244.0.1", 8080, BackendState::Terminating),
                                  be("10.244.0.2", 8080, BackendState::Terminating)});
  Plan plan = sync_step(store, d);
  CHECK(entries(plan, MapId::Slots, PlanOp::Write) == 0);
  CHECK(entries(plan, MapId::Backends, PlanOp::Write) == 2);
  CHECK(plan.summary.updated == 1);
  check_serves(store, served(d));
  KernelState after = read_kernel_state(store);
  CHECK(after.slots == before.slots);
  CHECK(service_value(after, kWeb).revision == service_value(before, kWeb).revision);
  CHECK((service_value(after, kWeb).flags & SOCKLB_SERVICE_FALLBACK) != 0);
  for (const auto& [id, b] : after.backends) CHECK(b.state == SOCKLB_BACKEND_TERMINATING);

  d.services[kWeb] = dsvc("web", {be("10.244.0.1", 8080), be("10.244.0.2", 8080)});
  sync_step(store, d);
  check_serves(store, served(d));
  CHECK_FALSE((service_value(read_kernel_state(store), kWeb).flags & SOCKLB_SERVICE_FALLBACK) != 0);
}

TEST_CASE("removing a service deletes its entry, slots, backends and name; its VIP goes with its last port") {
  FakeMapStore store;
  DesiredState d;
  d.services[kWeb] = dsvc("web", {be("10.244.0.1", 8080)}, 0, "http");
  d.services[skey("10.96.0.1", 443)] = dsvc("web", {be("10.244.0.1", 8443), be("10.244.0.2", 8443)}, 0, "https");
  d.services[skey("10.96.0.2", 80)] = dsvc("other", {be("10.244.0.9", 80)});
  sync_step(store, d);

  d.services.erase(skey("10.96.0.1", 443));
  Plan plan = sync_step(store, d);
  CHECK(plan.summary.removed == 1);
  CHECK(plan.summary.changes == std::vector<std::string>{"-default/web:https 10.96.0.1:443/TCP"});
  check_serves(store, served(d));  // also: no slot, backend or name left over
  CHECK(read_kernel_state(store).addrs.at(addr("10.96.0.1")).refs == 1);

  d.services.erase(kWeb);
  sync_step(store, d);
  check_serves(store, served(d));
  CHECK_FALSE(read_kernel_state(store).addrs.count(addr("10.96.0.1")));
  CHECK(store.size(MapId::AddrsV4) == 2);  // 10.96.0.2 and its pod 10.244.0.9

  sync_step(store, DesiredState{});
  for (const auto& m : kMaps) CHECK(store.size(m.id) == 0);
}

TEST_CASE("a removal before the wait for readers is only of a key or ClusterIP entry; a pod address goes after it") {
  FakeMapStore store;
  DesiredState d;
  d.services[kWeb] = dsvc("web", {be("10.244.0.1", 8080)}, 0, "http");
  d.services[skey("10.96.0.2", 80)] = dsvc("other", {be("10.244.0.9", 80)});
  sync_step(store, d);

  d.services.erase(kWeb);
  Plan plan = make_plan(d, read_kernel_state(store), limits_of(store));
  // phase -> the removed keys of each map, as "map key-bytes"
  std::map<int, std::set<std::pair<MapId, Bytes>>> removed;
  for (const auto& step : plan.steps)
    if (step.op == PlanOp::Remove)
      for (std::size_t i = 0; i < step.count; ++i)
        removed[step.phase].insert({step.map, Bytes(step.key(i).begin(), step.key(i).end())});
  auto key_of = [](const MapKey& k) { return std::pair{k.map, Bytes(k.view().begin(), k.view().end())}; };
  // the service's key and its ClusterIP entry: with the writes, so the service stops being served with them
  CHECK(removed[3] == std::set{key_of(service_key_of(kWeb)), key_of(addr_key_of(addr("10.96.0.1")))});
  // the pod address marks sockets that dial the pod itself: it goes with the pod's reverse entry, after the wait
  CHECK(removed[4].count(key_of(addr_key_of(addr("10.244.0.1")))) == 1);
  socklb_reverse_key reverse = reverse_key_of({addr("10.244.0.1"), 8080, Protocol::TCP});
  CHECK(removed[4].count({MapId::Reverse, Bytes(bytes_of(reverse).begin(), bytes_of(reverse).end())}) == 1);
  CHECK(plan.waits_for_readers());
  apply_plan(plan, store);
  check_serves(store, served(d));
}

TEST_CASE("affinity entries are purged when affinity is switched off or the service goes") {
  FakeMapStore store;
  DesiredState d;
  d.services[kWeb] = dsvc("a", {be("10.244.0.1", 80)}, 30);
  d.services[skey("10.96.0.2", 80)] = dsvc("b", {be("10.244.0.2", 80)}, 30);
  sync_step(store, d);
  KernelState k = read_kernel_state(store);
  const uint32_t a = k.services.at(kWeb), b = k.services.at(skey("10.96.0.2", 80));
  CHECK((service_value(k, kWeb).flags & SOCKLB_SERVICE_AFFINITY) != 0);
  CHECK(service_value(k, kWeb).affinity_timeout_sec == 30);
  add_affinity(store, 1, a);
  add_affinity(store, 2, a);
  add_affinity(store, 1, b);

  d.services[kWeb].affinity_timeout_sec = 0;
  sync_step(store, d);
  check_serves(store, served(d));
  CHECK(affinity_service_ids(store) == std::multiset<uint32_t>{b});
  CHECK_FALSE((service_value(read_kernel_state(store), kWeb).flags & SOCKLB_SERVICE_AFFINITY) != 0);

  d.services[skey("10.96.0.2", 80)].affinity_timeout_sec = 60;  // a new timeout keeps the entries
  Plan plan = sync_step(store, d);
  CHECK(plan.purge_affinity.empty());
  CHECK(affinity_service_ids(store) == std::multiset<uint32_t>{b});

  d.services.erase(skey("10.96.0.2", 80));
  sync_step(store, d);
  CHECK(affinity_service_ids(store).empty());
}

TEST_CASE("a ClusterIP:port taken over by another service is renamed and forgets its affinity") {
  FakeMapStore store;
  DesiredState d;
  d.services[kWeb] = dsvc("old", {be("10.244.0.1", 80)}, 30);
  sync_step(store, d);
  const uint32_t id = read_kernel_state(store).services.at(kWeb);
  add_affinity(store, 7, id);

  d.services[kWeb] = dsvc("new", {be("10.244.0.1", 80)}, 30);
  Plan plan = sync_step(store, d);
  CHECK(plan.summary.updated == 1);
  check_serves(store, served(d));
  CHECK(read_kernel_state(store).owner(id) == ServiceRef{"default", "new"});
  CHECK(affinity_service_ids(store).empty());
}

namespace {

std::vector<std::string> warnings(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& d : plan.diagnostics)
    if (d.severity == Diagnostic::Severity::Warning) out.push_back(d.str());
  return out;
}

// Plans `d` into `store` twice: once whole, once as a change of `scope`
// against an empty start, so both endpoint passes are seen.
std::pair<Plan, Plan> both_plans(FakeMapStore& store, const DesiredState& d, const std::set<ServiceKey>& scope) {
  EndpointListing listing;
  Plan empty_plan = make_plan({}, read_kernel_state(store), limits_of(store), &listing);
  Plan whole = make_plan(d, read_kernel_state(store), limits_of(store));
  Plan scoped = make_plan(d, read_kernel_state(store), limits_of(store), scope, listing);
  return {std::move(whole), std::move(scoped)};
}

}  // namespace

TEST_CASE("a pod left without its own entries names the map that is full and the flag that raises it") {
  DesiredState d;
  d.services[kWeb] = dsvc("web", {be("10.244.0.1", 8080), be("10.244.0.2", 8080)});

  SUBCASE("reverse full") {
    FakeMapStore store;
    store.set_capacity(MapId::Reverse, 1);
    auto [whole, scoped] = both_plans(store, d, {kWeb});
    for (const Plan* plan : {&whole, &scoped}) {
      REQUIRE(warnings(*plan).size() == 1);
      CHECK(warnings(*plan)[0].find("map full (reverse)") != std::string::npos);
      CHECK(warnings(*plan)[0].find("raise --max-backends") != std::string::npos);
    }
  }
  SUBCASE("addrs full") {
    FakeMapStore store;
    store.set_capacity(MapId::AddrsV4, 2);  // the ClusterIP and one pod
    auto [whole, scoped] = both_plans(store, d, {kWeb});
    for (const Plan* plan : {&whole, &scoped}) {
      REQUIRE(warnings(*plan).size() == 1);
      CHECK(warnings(*plan)[0].find("map full (addrs_v4)") != std::string::npos);
      CHECK(warnings(*plan)[0].find("raise --max-services") != std::string::npos);
    }
    apply_plan(whole, store);
    check_serves(store, served(d));  // still served: the pod's connects keep per-socket state
  }
  SUBCASE("a pod at another service's ClusterIP is not a full map") {
    FakeMapStore store;
    d.services[skey("10.244.0.2", 53, Protocol::UDP)] = dsvc("dns", {be("10.244.0.9", 53)});
    auto [whole, scoped] = both_plans(store, d, {kWeb, skey("10.244.0.2", 53, Protocol::UDP)});
    CHECK(warnings(whole).empty());
    CHECK(warnings(scoped).empty());
  }
}
