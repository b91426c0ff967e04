// The incremental control path (object events -> store -> reconcile of the
// dirty services -> plan) must leave the maps serving exactly what a sync
// from scratch of the same objects serves, after every event of a random
// sequence: upserts, deletes, objects of one id from two files, conflicting
// ClusterIPs, broken input that holds services, and its repair.

#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <random>

#include "agent/syncer.h"
#include "cli/services_view.h"
#include "desired_helpers.h"
#include "fake_map_store.h"
#include "served.h"
#include "store/object_store.h"

using namespace socklb;
using namespace socklb::test;

namespace {

IpAddress ip(const std::string& text) { return *IpAddress::parse(text); }

class RandomObjects {
 public:
  explicit RandomObjects(uint32_t seed) : rng_(seed) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return pick(100) < percent; }

  ObjectPtr any_object() {
    switch (pick(4)) {
      case 0: return service();
      case 1: return slice();
      case 2: return endpoints();
      default: return pod();
    }
  }

  std::shared_ptr<const Service> service() {
    auto s = std::make_shared<Service>();
    int n = pick(6);
    s->meta = meta("Service", "s" + std::to_string(n));
    // few ClusterIPs, so services conflict now and then
    s->cluster_ips = {ip("10.96.0." + std::to_string(1 + pick(5)))};
    if (chance(10)) s->cluster_ips = {ip("192.0.2.1")};  // outside the service CIDRs: refused
    s->ports.push_back({"", Protocol::TCP, 80, uint16_t{8080}});
    if (chance(40)) s->ports.push_back({"dns", chance(50) ? Protocol::UDP : Protocol::TCP, 53, uint16_t{5353}});
    if (chance(50)) s->selector = Labels{{"app", "a" + std::to_string(pick(3))}};
    if (chance(15)) s->affinity_timeout_sec = 30;
    if (chance(10)) s->internal_traffic_local = true;
    return s;
  }

  std::shared_ptr<const EndpointSlice> slice() {
    auto e = std::make_shared<EndpointSlice>();
    int n = pick(6);
    e->meta = meta("EndpointSlice", "s" + std::to_string(n) + "-" + std::to_string(pick(2)));
    e->service_name = "s" + std::to_string(n);
    e->ports = {{"", Protocol::TCP, 8080}, {"dns", Protocol::UDP, 5353}};
    for (int i = pick(4); i > 0; --i) e->endpoints.push_back(endpoint());
    return e;
  }

  std::shared_ptr<const Endpoints> endpoints() {
    auto e = std::make_shared<Endpoints>();
    e->meta = meta("Endpoints", "s" + std::to_string(pick(6)));
    EndpointsSubset subset;
    subset.ports = {{"", Protocol::TCP, 8080}};
    for (int i = pick(3); i > 0; --i) subset.addresses.push_back(endpoint());
    e->subsets.push_back(subset);
    return e;
  }

  std::shared_ptr<const Pod> pod() {
    auto p = std::make_shared<Pod>();
    p->meta = meta("Pod", "p" + std::to_string(pick(8)));
    p->meta.labels = {{"app", "a" + std::to_string(pick(3))}};
    p->meta.deleting = chance(15);
    p->ips = {ip(chance(5) ? "10.96.0.2" : "10.244.1." + std::to_string(1 + pick(6)))};
    p->ready = chance(80);
    p->node_name = chance(50) ? "node-a" : "node-b";
    return p;
  }

  BrokenObject broken() {
    switch (pick(4)) {
      case 0: return {"Service", std::string("default"), "s" + std::to_string(pick(6)), std::nullopt};
      case 1: return {"EndpointSlice", std::string("default"), std::nullopt,
                      Labels{{"kubernetes.io/service-name", "s" + std::to_string(pick(6))}}};
      case 2: return {"Pod", std::string("default"), std::nullopt, Labels{{"app", "a" + std::to_string(pick(3))}}};
      default: return {"Service", chance(30) ? std::nullopt : std::optional<std::string>("default"), std::nullopt,
                       std::nullopt};
    }
  }

 private:
  ObjectMeta meta(const std::string& kind, const std::string& name) {
    ObjectMeta m;
    m.kind = kind;
    m.ns = "default";
    m.name = name;
    m.where = {"file.yaml", 1 + pick(50)};
    return m;
  }

  SliceEndpoint endpoint() {
    SliceEndpoint ep;
    ep.address = ip(chance(5) ? "10.96.0.1" : "10.244.0." + std::to_string(1 + pick(6)));
    ep.conditions.ready = chance(80);
    ep.conditions.serving = ep.conditions.ready || chance(50);
    ep.conditions.terminating = !ep.conditions.ready && chance(50);
    ep.node_name = chance(50) ? "node-a" : "node-b";
    return ep;
  }

  std::mt19937 rng_;
};

// The maps as a connect and getpeername() see them, without the ids (two
// syncers hand out different ones): per service key its backends with their
// SHARED flag, the reverse map, and the address entries (a ClusterIP's by
// its ports).
std::string entries_without_ids(const KernelState& k) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [key, id] : k.services) {
    auto list = k.backends_by_service.find(id);
    if (list == k.backends_by_service.end()) continue;
    for (uint32_t backend_id : list->second) {
      const auto& b = k.backends.at(backend_id);
      out["backends " + key.str()].insert(decode_backend(b).str() + (backend_shared(b) ? " shared" : ""));
    }
  }
  for (const auto& [endpoint, value] : k.reverse)
    out["reverse"].insert(endpoint.ip.str() + ":" + std::to_string(endpoint.port) + " -> " +
                          IpAddress::from_words(value.vip).str() + ":" + std::to_string(ntohs(value.vip_port)));
  for (const auto& [ip, value] : k.addrs) {
    std::string ports;
    for (unsigned i = 0; i < value.refs && i < SOCKLB_PORTS_INLINE; ++i) ports += " " + std::to_string(ntohs(value.ports[i].port));
    out["addrs"].insert(ip.str() + " kind " + std::to_string(value.kind) + " refs " + std::to_string(value.refs) + ports);
  }
  std::string text;
  for (const auto& [what, items] : out)
    for (const auto& item : items) text += what + ": " + item + "\n";
  return text;
}

// Everything the sources hold now, as a from-scratch sync gets it.
struct Universe {
  std::map<std::pair<Origin, ObjectId>, ObjectPtr> objects;
  std::map<Origin, std::vector<BrokenObject>> broken;

  SourceUpdate everything() const {
    SourceUpdate update;
    for (const auto& [at, object] : objects) update.events.push_back({ObjectEvent::Type::Upsert, at.first, at.second, object});
    for (const auto& [origin, list] : broken) update.broken.emplace_back(origin, list);
    return update;
  }
};

// Each service key with the backends a new connect may pick, as the maps say.
std::map<ServiceKey, std::vector<Backend>> new_connects_reach(const KernelState& k) {
  std::map<ServiceKey, std::vector<Backend>> out;
  for (const ServiceRow& row : service_rows(k)) {
    auto& backends = out[row.key];
    for (std::size_t i = 0; i < row.live; ++i) backends.push_back(row.backends[i].second);
    std::sort(backends.begin(), backends.end());
    if (row.incomplete) backends.push_back({});  // a broken service differs from any whole one
  }
  return out;
}

}  // namespace

TEST_CASE("a random sequence of object events serves what a from-scratch sync of the same objects serves") {
  // deferred: as the agent syncs, each sync's removals applied after their
  // grace period, by finish_removals() or else by the next sync
  for (bool deferred : {false, true})
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    CAPTURE(deferred);
    CAPTURE(seed);
    RandomObjects random(seed);
    Universe universe;
    FakeMapStore incremental_maps, scratch_maps;
    // every single write keeps what a connect (also one in flight) can read whole
    incremental_maps.check_after_every_write(datapath_invariant_violations);
    Syncer incremental(incremental_maps, settings());
    if (deferred) incremental.defer_removals();
    Syncer scratch(scratch_maps, settings());
    ObjectStore store;

    std::string history;  // the events so far, for a failure's message
    for (int step = 0; step < 60; ++step) {
      CAPTURE(step);
      // a batch of 1-4 events, as one sync may take
      SourceUpdate update;
      for (int n = 1 + random.pick(4); n > 0; --n) {
        Origin origin = 1 + random.pick(3);
        if (random.chance(8)) {
          std::vector<BrokenObject> list;
          if (random.chance(60)) list.push_back(random.broken());
          universe.broken[origin] = list;
          update.broken.emplace_back(origin, list);
        } else if (random.chance(25) && !universe.objects.empty()) {
          auto it = std::next(universe.objects.begin(), random.pick(static_cast<int>(universe.objects.size())));
          update.events.push_back({ObjectEvent::Type::Delete, it->first.first, it->first.second, {}});
          universe.objects.erase(it);
        } else {
          ObjectPtr object = random.any_object();
          ObjectId id = id_of(object);
          universe.objects[{origin, id}] = object;
          update.events.push_back({ObjectEvent::Type::Upsert, origin, id, object});
        }
      }
      for (const auto& e : update.events)
        history += std::to_string(step) + (e.type == ObjectEvent::Type::Upsert ? " upsert " : " delete ") +
                   std::to_string(e.origin) + " " + std::to_string(int(e.id.kind)) + "/" + e.id.name + "\n";
      for (const auto& [origin, list] : update.broken)
        history += std::to_string(step) + " broken " + std::to_string(origin) + " x" + std::to_string(list.size()) + "\n";
      store.apply(update);
      SyncResult result = incremental.sync(store);
      CHECK(incremental.removals_pending() == (result.removals_pending > 0));

      ObjectStore fresh;
      fresh.apply(universe.everything());
      scratch.resync(fresh);

      // what new connects reach is served as soon as the sync returns
      KernelState got = read_kernel_state(incremental_maps), want = read_kernel_state(scratch_maps);
      REQUIRE_MESSAGE(new_connects_reach(got) == new_connects_reach(want), "after:\n" << history);
      if (deferred && random.chance(50)) continue;  // its removals left to the next sync
      if (deferred && incremental.removals_pending()) {
        auto done = incremental.finish_removals();
        REQUIRE(done);
        CHECK(done->entries == result.removals_pending);
        got = read_kernel_state(incremental_maps);
      }
      CHECK(!incremental.removals_pending());
      // and once its removals are done, nothing else is left: no entry kept for connections that are gone
      std::string differences = diff(served(got), served(want));
      REQUIRE_MESSAGE(differences.empty(), differences << "\nafter:\n" << history);
      REQUIRE(entries_without_ids(got) == entries_without_ids(want));
      REQUIRE_MESSAGE(incremental_maps.violations().empty(), incremental_maps.violations().front());
    }
  }
}

TEST_CASE("a service edited in place is rebuilt alone; a pod touches only the services selecting it") {
  ObjectStore store;
  auto service = [](const std::string& name, const std::string& app) {
    auto s = std::make_shared<Service>();
    s->meta.kind = "Service";
    s->meta.ns = "default";
    s->meta.name = name;
    s->cluster_ips = {*IpAddress::parse("10.96.0.1")};
    s->selector = Labels{{"app", app}};
    return s;
  };
  SourceUpdate first;
  for (auto s : {service("web", "web"), service("db", "db")})
    first.events.push_back({ObjectEvent::Type::Upsert, 1, id_of(ObjectPtr(s)), ObjectPtr(s)});
  store.apply(first);
  CHECK(store.take_dirty().size() == 2);

  auto pod = std::make_shared<Pod>();
  pod->meta.kind = "Pod";
  pod->meta.ns = "default";
  pod->meta.name = "web-1";
  pod->meta.labels = {{"app", "web"}};
  store.apply({{{ObjectEvent::Type::Upsert, 1, id_of(ObjectPtr(pod)), ObjectPtr(pod)}}});
  CHECK(store.take_dirty() == std::set<ServiceRef>{{"default", "web"}});

  // relabelled: it leaves web and joins db; both change
  auto moved = std::make_shared<Pod>(*pod);
  moved->meta.labels = {{"app", "db"}};
  store.apply({{{ObjectEvent::Type::Upsert, 1, id_of(ObjectPtr(moved)), ObjectPtr(moved)}}});
  CHECK(store.take_dirty() == std::set<ServiceRef>{{"default", "db"}, {"default", "web"}});

  // the same content again (a document moved in its file): nothing to do
  auto same = std::make_shared<Pod>(*moved);
  same->meta.where.line = 40;
  store.apply({{{ObjectEvent::Type::Upsert, 1, id_of(ObjectPtr(same)), ObjectPtr(same)}}});
  CHECK(store.take_dirty().empty());
}

TEST_CASE("deferred removals: a removed service stops being served with the sync; its pod's entries go at the cleanup") {
  FakeMapStore maps;
  maps.check_after_every_write(datapath_invariant_violations);
  Syncer syncer(maps, settings());
  syncer.defer_removals();
  ObjectStore store;
  SourceUpdate first = upserts_of(manifests(R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.96.0.10, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec: {nodeName: node-a, containers: [{ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.244.0.5, conditions: [{type: Ready, status: "True"}]}
)"));
  store.apply(first);
  syncer.sync(store);
  syncer.finish_removals();
  auto addr_entry = [&](const char* ip) { return read_kernel_state(maps).addrs.count(*IpAddress::parse(ip)); };
  REQUIRE(addr_entry("10.96.0.10") == 1);
  REQUIRE(addr_entry("10.244.0.5") == 1);

  // the Service deleted: a scoped plan
  SourceUpdate gone;
  for (const auto& e : first.events)
    if (e.id.kind == ObjectKind::Service) gone.events.push_back({ObjectEvent::Type::Delete, e.origin, e.id, {}});
  REQUIRE(gone.events.size() == 1);
  store.apply(gone);
  SyncResult result = syncer.sync(store);
  CHECK(result.summary.removed == 1);
  REQUIRE(syncer.removals_pending());
  KernelState now = read_kernel_state(maps);
  CHECK(now.services.empty());            // not served from the sync on
  CHECK(addr_entry("10.96.0.10") == 0);   // nor its ClusterIP
  CHECK(addr_entry("10.244.0.5") == 1);   // the pod's address stays with its reverse entry until the cleanup
  CHECK(now.reverse.size() == 1);
  auto done = syncer.finish_removals();
  REQUIRE(done);
  CHECK(done->entries == result.removals_pending);
  CHECK(addr_entry("10.244.0.5") == 0);
  for (const auto& m : kMaps) CHECK(maps.size(m.id) == 0);
  CHECK(maps.violations().empty());
}
