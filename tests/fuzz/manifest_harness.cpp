#include "manifest_harness.h"

#include "agent/syncer.h"
#include "maps/kernel_state.h"
#include "desired/reconcile.h"
#include "fake_map_store.h"
#include "manifests/document_parser.h"

namespace socklb::fuzz {
namespace {

// What the store serves before the fuzzed input arrives, so the input can
// update, hold, conflict with and remove services, not only add them.
const char* const kBaseline = R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.96.0.10, selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-a, labels: {app: web}}
spec: {containers: [{ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.244.1.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {clusterIPs: [10.96.0.20, "fd00:10:96::20"], ipFamilies: [IPv4, IPv6], sessionAffinity: ClientIP,
       ports: [{name: grpc, port: 9000, protocol: UDP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, namespace: shop, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
endpoints: [{addresses: [10.244.2.10]}, {addresses: [10.244.2.11], conditions: {ready: false, serving: true, terminating: true}}]
ports: [{name: grpc, port: 9000, protocol: UDP}]
)";

ReconcileSettings fuzz_settings() {
  ReconcileSettings s;
  s.node = {"node-a", "zone-a"};
  s.service_cidrs = default_service_cidrs();
  return s;
}

void check_diagnostics(const Diagnostics& diagnostics, const char* stage, std::vector<std::string>& problems) {
  for (const auto& d : diagnostics) {
    std::string text = d.str();
    if (d.where.file != kInputFileName)
      problems.push_back(std::string(stage) + " diagnostic does not name the input file: " + text);
    if (d.message.empty()) problems.push_back(std::string(stage) + " diagnostic without a message: " + text);
  }
}

}  // namespace

std::vector<std::string> check_manifest_bytes(std::string_view bytes) {
  std::vector<std::string> problems;
  ParsedFile parsed = parse_manifest_text(std::string(bytes), kInputFileName);
  check_diagnostics(parsed.objects.diagnostics, "parse", problems);
  if (parsed.unreadable && parsed.objects.diagnostics.empty())
    problems.push_back("an unreadable input produced no error");

  static const test::FakeMapStore serving_baseline = [] {
    test::FakeMapStore store(256);
    Syncer(store, fuzz_settings()).sync(parse_manifest_text(kBaseline, "baseline.yaml").objects);
    return store;
  }();
  test::FakeMapStore store = serving_baseline;
  Syncer syncer(store, fuzz_settings());
  store.check_after_every_write(test::datapath_invariant_violations);

  // a map write that fails here is a planner bug (it must refuse what does
  // not fit), so exceptions are left to reach the fuzzer as crashes
  SyncResult first = syncer.sync(parsed.objects);
  check_diagnostics(first.diagnostics, "sync", problems);
  SyncResult again = syncer.sync(parsed.objects);
  if (again.writes != 0)
    problems.push_back("the same input synced twice wrote " + std::to_string(again.writes) + " entries the second time");
  for (const auto& violation : store.violations()) problems.push_back("datapath invariant: " + violation);
  return problems;
}

}  // namespace socklb::fuzz
