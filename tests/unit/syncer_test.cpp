// Syncer: manifest text -> maps, the whole control path against the fake store.

#include <doctest/doctest.h>

#include "agent/syncer.h"
#include "maps/kernel_state.h"
#include "desired_helpers.h"
#include "fake_map_store.h"
#include "served.h"
#include "manifests/manifest_reader.h"
#include "temp_dir.h"

using namespace socklb;
using namespace socklb::test;

namespace {

const std::string kUser = R"(apiVersion: v1
kind: Service
metadata: {name: user-service}
spec: {clusterIP: 10.96.0.10, selector: {app: user}, ports: [{port: 80, targetPort: 8080}]}
)";

const std::string kPayment = R"(---
apiVersion: v1
kind: Service
metadata: {name: payment-service}
spec: {clusterIP: 10.96.0.11, ports: [{name: http, port: 80}]}
)";

std::string user_pod(const std::string& name, const std::string& ip) {
  return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         ", labels: {app: user}}\nstatus: {podIP: " + ip + ", conditions: [{type: Ready, status: \"True\"}]}\n";
}

std::string payment_slice(const std::string& ip) {
  return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: payment-1, labels: "
         "{kubernetes.io/service-name: payment-service}}\naddressType: IPv4\nendpoints: [{addresses: [\"" + ip +
         "\"]}]\nports: [{name: http, port: 9000}]\n";
}

// What the maps serve, as "key -> backends".
std::map<std::string, Strings> serving(const MapStore& store) { return served_backends(store); }

bool has_error(const SyncResult& result, const std::string& object) {
  return std::any_of(result.diagnostics.begin(), result.diagnostics.end(), [&](const Diagnostic& d) {
    return d.severity == Diagnostic::Severity::Error && d.object == object;
  });
}

using Serving = std::map<std::string, Strings>;

}  // namespace

TEST_CASE("a sync takes manifest text to the maps; a second sync writes nothing") {
  FakeMapStore store;
  store.check_after_every_write(datapath_invariant_violations);
  Syncer syncer(store, settings());
  SyncResult result = syncer.sync(manifests(kUser + kPayment + user_pod("u1", "10.244.0.1") + user_pod("u2", "10.244.0.2") +
                                            payment_slice("10.244.1.1")));
  CHECK(result.summary.added == 2);
  CHECK(result.summary.services == 2);
  CHECK(result.summary.backends == 3);
  CHECK(result.writes > 0);
  CHECK(result.diagnostics.empty());
  CHECK(serving(store) == Serving{{"10.96.0.10:80/TCP default/user-service", {"10.244.0.1:8080", "10.244.0.2:8080"}},
                                  {"10.96.0.11:80/TCP default/payment-service", {"10.244.1.1:9000"}}});

  result = syncer.sync(manifests(kUser + kPayment + user_pod("u1", "10.244.0.1") + user_pod("u2", "10.244.0.2") +
                                 payment_slice("10.244.1.1")));
  CHECK(result.writes == 0);
  CHECK(result.summary.unchanged == 2);
  CHECK(store.violations().empty());
}

TEST_CASE("a broken object keeps its service's previous state while valid objects apply") {
  FakeMapStore store;
  store.check_after_every_write(datapath_invariant_violations);
  Syncer syncer(store, settings());
  syncer.sync(manifests(kUser + kPayment + user_pod("u1", "10.244.0.1") + payment_slice("10.244.1.1")));

  // the slice is broken and the user pods scale up in the same edit
  ManifestSet edited =
      manifests(kUser + kPayment + user_pod("u1", "10.244.0.1") + user_pod("u2", "10.244.0.2") + payment_slice("10.244.1.x"));
  REQUIRE(edited.broken.size() == 1);
  SyncResult result = syncer.sync(edited);
  CHECK(serving(store) == Serving{{"10.96.0.10:80/TCP default/user-service", {"10.244.0.1:8080", "10.244.0.2:8080"}},
                                  {"10.96.0.11:80/TCP default/payment-service", {"10.244.1.1:9000"}}});
  CHECK(result.summary.held == 1);

  // a broken Service is held too, even with its definition gone wrong
  std::string broken_user = kUser;
  broken_user.replace(broken_user.find("port: 80"), 8, "port: 0");
  result = syncer.sync(manifests(broken_user + kPayment + payment_slice("10.244.1.2")));
  CHECK(serving(store) == Serving{{"10.96.0.10:80/TCP default/user-service", {"10.244.0.1:8080", "10.244.0.2:8080"}},
                                  {"10.96.0.11:80/TCP default/payment-service", {"10.244.1.2:9000"}}});

  // fixed: applies; deleted: goes
  syncer.sync(manifests(kPayment + payment_slice("10.244.1.2")));
  CHECK(serving(store) == Serving{{"10.96.0.11:80/TCP default/payment-service", {"10.244.1.2:9000"}}});
  CHECK(store.violations().empty());
}

TEST_CASE("a file that stops parsing keeps serving what it defined (reader + syncer)") {
  TempDir dir;
  FakeMapStore store;
  store.check_after_every_write(datapath_invariant_violations);
  Syncer syncer(store, settings());
  ManifestReader reader;
  dir.write("user.yaml", kUser + user_pod("u1", "10.244.0.1"));
  dir.write("payment.yaml", kPayment + payment_slice("10.244.1.1"));
  syncer.sync(reader.read(dir.path()));
  Serving both{{"10.96.0.10:80/TCP default/user-service", {"10.244.0.1:8080"}},
               {"10.96.0.11:80/TCP default/payment-service", {"10.244.1.1:9000"}}};
  REQUIRE(serving(store) == both);

  dir.write("user.yaml", kUser + user_pod("u1", "10.244.0.1") + "---\nkind: Pod\nmetadata: {name: [\n");
  dir.write("payment.yaml", kPayment + payment_slice("10.244.1.2"));
  syncer.sync(reader.read(dir.path()));
  CHECK(serving(store) == Serving{{"10.96.0.10:80/TCP default/user-service", {"10.244.0.1:8080"}},
                                  {"10.96.0.11:80/TCP default/payment-service", {"10.244.1.2:9000"}}});

  dir.remove("user.yaml");
  syncer.sync(reader.read(dir.path()));
  CHECK(serving(store).size() == 1);
  CHECK(store.violations().empty());
}

TEST_CASE("a ClusterIP:port conflict is won by the service already serving it, across syncs") {
  FakeMapStore store;
  Syncer syncer(store, settings());
  const std::string rival = "---\napiVersion: v1\nkind: Service\nmetadata: {name: rival}\nspec: {clusterIP: 10.96.0.10, "
                            "ports: [{port: 80}]}\n";
  syncer.sync(manifests(kUser + user_pod("u1", "10.244.0.1")));
  SyncResult result = syncer.sync(manifests(kUser + user_pod("u1", "10.244.0.1") + rival));
  CHECK(has_error(result, "Service default/rival"));
  CHECK(serving(store) == Serving{{"10.96.0.10:80/TCP default/user-service", {"10.244.0.1:8080"}}});

  syncer.sync(manifests(rival));
  CHECK(serving(store) == Serving{{"10.96.0.10:80/TCP default/rival", {}}});
}

TEST_CASE("a sync interrupted at any single write leaves a working datapath; the next sync finishes") {
  const std::string first = kUser + kPayment + user_pod("u1", "10.244.0.1") + user_pod("u2", "10.244.0.2") +
                            payment_slice("10.244.1.1");
  const std::string second = kUser + user_pod("u2", "10.244.0.2") + user_pod("u3", "10.244.0.3") +
                             "---\napiVersion: v1\nkind: Service\nmetadata: {name: new}\nspec: {clusterIP: "
                             "10.96.0.12, sessionAffinity: ClientIP, ports: [{port: 53, protocol: UDP}]}\n";
  FakeMapStore reference;
  Syncer(reference, settings()).sync(manifests(first));
  const std::size_t writes = Syncer(reference, settings()).sync(manifests(second)).writes;
  REQUIRE(writes > 5);
  const Serving want = serving(reference);

  for (std::size_t failing = 1; failing <= writes; ++failing) {
    CAPTURE(failing);
    FakeMapStore store;
    Syncer syncer(store, settings());
    syncer.sync(manifests(first));
    store.check_after_every_write(datapath_invariant_violations);
    store.fail_at_operation(failing);
    CHECK_THROWS_AS(syncer.sync(manifests(second)), std::runtime_error);
    syncer.sync(manifests(second));
    CHECK(serving(store) == want);
    CHECK(store.violations().empty());
    KernelState k = read_kernel_state(store);
    CHECK(k.slots.empty());  // nothing left over from the interrupted run (small services keep no slots)
    CHECK(k.backends.size() == 2);
    CHECK(k.names.size() == 2);
  }
}

TEST_CASE("a broken object stays held when its file then stops parsing altogether") {
  TempDir dir;
  FakeMapStore store;
  Syncer syncer(store, settings());
  ManifestReader reader;
  const Serving served_before{{"10.96.0.11:80/TCP default/payment-service", {"10.244.1.1:9000"}}};
  dir.write("payment.yaml", kPayment + payment_slice("10.244.1.1"));
  syncer.sync(reader.read(dir.path()));
  REQUIRE(serving(store) == served_before);

  dir.write("payment.yaml", kPayment + payment_slice("10.244.1.x"));  // the slice is broken: held
  syncer.sync(reader.read(dir.path()));
  REQUIRE(serving(store) == served_before);

  // mid-save: the slice's document is not even YAML now; its content is as unknown as before
  dir.write("payment.yaml", kPayment + "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: [\n");
  ManifestSet set = reader.read(dir.path());
  CHECK_FALSE(set.broken.empty());
  syncer.sync(set);
  CHECK(serving(store) == served_before);
}

TEST_CASE("affinity entries go when their timeout passed, or their service is gone or has no affinity") {
  FakeMapStore store;
  Syncer syncer(store, settings());
  const std::string sticky = R"(apiVersion: v1
kind: Service
metadata: {name: sticky}
spec: {clusterIP: 10.96.0.20, sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}},
       ports: [{port: 80}]}
)";
  syncer.sync(manifests(sticky + "---\n" + kPayment));
  KernelState k = read_kernel_state(store);
  uint32_t sticky_id = k.services.at({*IpAddress::parse("10.96.0.20"), 80, Protocol::TCP});
  uint32_t plain_id = k.services.at({*IpAddress::parse("10.96.0.11"), 80, Protocol::TCP});
  const uint64_t now = 1000ull * 1'000'000'000;
  auto entry = [](uint64_t cookie, uint32_t service, uint64_t last_used) {
    return std::pair{to_bytes(socklb_affinity_key{cookie, service, 0}), to_bytes(socklb_affinity_value{last_used, 1, 0})};
  };
  store.update(MapId::Affinity, {entry(1, sticky_id, now - 10'000'000'000),   // used 10 s ago: kept
                                 entry(2, sticky_id, now - 40'000'000'000),   // 40 s ago: expired
                                 entry(3, plain_id, now),                     // a service without affinity
                                 entry(4, 999, now)});                        // a service that is gone
  CHECK(syncer.expire_affinity(now) == 3);
  auto left = store.dump(MapId::Affinity);
  REQUIRE(left.size() == 1);
  CHECK(from_bytes<socklb_affinity_key>(left[0].first).netns_cookie == 1);
  CHECK(syncer.expire_affinity(now) == 0);
}

namespace {

// Counts what the syncer reads back from the maps (not the fake store's
// own reads while it writes: it notes what connects may hold).
class CountingStore : public FakeMapStore {
 public:
  void update(MapId map, const MapEntries& entries) override {
    writing_ = true;
    FakeMapStore::update(map, entries);
    writing_ = false;
  }
  MapEntries dump(MapId map) const override {
    if (!writing_) ++dumps;
    return FakeMapStore::dump(map);
  }
  mutable std::size_t dumps = 0;

 private:
  bool writing_ = false;
};

}  // namespace

TEST_CASE("maps created empty: the first sync neither reads them back nor waits, and serves the same") {
  const std::string text = kUser + kPayment + user_pod("u1", "10.244.0.1") + payment_slice("10.244.1.1");
  CountingStore read_back, created;
  Syncer(read_back, settings()).sync(manifests(text));
  CHECK(read_back.dumps > 0);
  CHECK(read_back.barriers() == 1);  // the start's wait for ids another agent freed

  Syncer syncer(created, settings());
  syncer.maps_created_empty();
  SyncResult result = syncer.sync(manifests(text));
  CHECK(created.dumps == 0);
  CHECK(created.barriers() == 0);
  CHECK(result.summary.added == 2);
  CHECK(serving(created) == serving(read_back));
  for (const auto& m : kMaps) CHECK(created.dump(m.id) == read_back.dump(m.id));
  // only before the first sync: after it the maps hold something
  CHECK_THROWS_AS(syncer.maps_created_empty(), std::logic_error);
}
