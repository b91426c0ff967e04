// EndpointSlices with addressType FQDN: kube-proxy ignores them
// (pkg/proxy/endpointschangetracker.go accepts IPv4 and IPv6 slices only), so
// socklb does too. They must not touch the IPv4/IPv6 slices of their service:
// a removal there still applies.

#include <doctest/doctest.h>

#include "agent/syncer.h"
#include "desired_helpers.h"
#include "fake_map_store.h"
#include "served.h"

using namespace socklb;
using namespace socklb::test;

namespace {

const std::string kWeb = R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.96.0.10, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
)";

std::string ipv4_slice(const std::string& endpoints) {
  return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-v4, labels: "
         "{kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints: " + endpoints +
         "\nports: [{name: http, port: 8080}]\n";
}

// addressType is on the 7th line of this text. Its endpoints are host names:
// nothing of it but its metadata is read.
const std::string kFqdnSlice = R"(---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-external
  labels: {kubernetes.io/service-name: web}
addressType: FQDN
endpoints:
- addresses: [web.example.com]
- addresses: [web-2.example.com]
ports: [{name: http, port: 443}]
)";

std::vector<const Diagnostic*> about(const Diagnostics& diagnostics, const std::string& object) {
  std::vector<const Diagnostic*> out;
  for (const auto& d : diagnostics)
    if (d.object == object) out.push_back(&d);
  return out;
}

}  // namespace

TEST_CASE("an FQDN EndpointSlice is ignored with one warning naming the file, line and slice") {
  ParsedFile parsed = parse_manifest_text(kWeb + ipv4_slice("[{addresses: [10.244.1.1]}]") + kFqdnSlice, "web.yaml");
  const ManifestSet& set = parsed.objects;
  CHECK_FALSE(parsed.unreadable);
  CHECK(set.broken.empty());
  auto notes = about(set.diagnostics, "EndpointSlice default/web-external");
  REQUIRE(notes.size() == 1);
  CAPTURE(notes[0]->str());
  CHECK(notes[0]->severity == Diagnostic::Severity::Warning);
  CHECK(notes[0]->where.file == "web.yaml");
  CHECK(notes[0]->where.line == 18);  // its addressType: the service takes lines 1-4, the IPv4 slice 5-11
  CHECK(notes[0]->field == "addressType");
  CHECK(notes[0]->message.find("FQDN") != std::string::npos);
  CHECK(set.diagnostics.size() == 1);

  auto desired = reconcile(set, settings(), {});
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.1.1:8080"});
  CHECK(desired.held.empty());
  CHECK(desired.diagnostics.empty());
}

TEST_CASE("beside an FQDN slice, a pod removed from the service's IPv4 slice stops being served") {
  FakeMapStore store;
  store.check_after_every_write(datapath_invariant_violations);
  Syncer syncer(store, settings());
  syncer.sync(manifests(kWeb + ipv4_slice("[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2]}]") + kFqdnSlice));
  CHECK(served_backends(store) == ServedBackends{{"10.96.0.10:80/TCP default/web", {"10.244.1.1:8080", "10.244.1.2:8080"}}});

  SyncResult result = syncer.sync(manifests(kWeb + ipv4_slice("[{addresses: [10.244.1.2]}]") + kFqdnSlice));
  CHECK(served_backends(store) == ServedBackends{{"10.96.0.10:80/TCP default/web", {"10.244.1.2:8080"}}});
  CHECK(result.summary.held == 0);
  CHECK(store.violations().empty());
}

TEST_CASE("a service whose only slice is FQDN gets its endpoints as if the slice were absent") {
  // the EndpointSlice controller would have written the IPv4 slice for the
  // selected pods; the FQDN slice does not stand in for it
  const std::string pod = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-a, labels: {app: web}}\n"
                          "status: {podIP: 10.244.1.10, conditions: [{type: Ready, status: \"True\"}]}\n";
  auto desired = reconcile(manifests(kWeb + pod + kFqdnSlice), settings(), {});
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.1.10:8080"});
  CHECK(desired.held.empty());
}
