// Topology from manifest text to backends: hints.forNodes and hints.forZones
// in EndpointSlices, spec.trafficDistribution for the endpoints socklb derives
// from selected Pods. kube-proxy (pkg/proxy/topology.go, topologyModeFromHints)
// reads only the hints, never the Service's trafficDistribution: the
// EndpointSlice controller turns that field into hints
// (staging/src/k8s.io/endpointslice/trafficdist), and for Pods socklb plays
// that controller.

#include "desired_helpers.h"

using namespace socklb;
using namespace socklb::test;

namespace {

std::string service(const std::string& extra_spec = "") {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.10\n  selector: {app: web}\n"
         "  ports: [{name: http, port: 80, targetPort: 8080}]\n" + extra_spec;
}

// As the controller writes a PreferSameNode service's slice: each ready
// endpoint hinted for its own node and its own zone.
const std::string kPreferSameNodeSlice = R"(---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.244.1.1], nodeName: node-a, zone: zone-a, hints: {forNodes: [{name: node-a}], forZones: [{name: zone-a}]}}
- {addresses: [10.244.1.2], nodeName: node-a, zone: zone-a, hints: {forNodes: [{name: node-a}], forZones: [{name: zone-a}]}}
- {addresses: [10.244.2.1], nodeName: node-b, zone: zone-a, hints: {forNodes: [{name: node-b}], forZones: [{name: zone-a}]}}
- {addresses: [10.244.3.1], nodeName: node-c, zone: zone-b, hints: {forNodes: [{name: node-c}], forZones: [{name: zone-b}]}}
)";

std::string pod(const std::string& name, const std::string& ip, const std::string& node, bool ready = true) {
  return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", labels: {app: web}}\nspec: {nodeName: " + node +
         "}\nstatus: {podIP: " + ip + ", conditions: [{type: Ready, status: \"" + (ready ? "True" : "False") + "\"}]}\n";
}

const std::string kPods = pod("a1", "10.244.1.1", "node-a") + pod("a2", "10.244.1.2", "node-a") +
                          pod("b1", "10.244.2.1", "node-b");

Strings served_on(const std::string& text, const std::string& node, const std::string& zone = "") {
  return backends(reconcile_text(text, {}, settings(node, zone)), key("10.96.0.10", 80));
}

}  // namespace

TEST_CASE("forNodes hints: this node's endpoints, else this zone's, else all") {
  const std::string text = service("  trafficDistribution: PreferSameNode\n") + kPreferSameNodeSlice;
  struct Case {
    const char* what;
    const char* node;
    const char* zone;
    Strings expected;
  };
  const Case cases[] = {
      {"endpoints for this node", "node-a", "zone-a", {"10.244.1.1:8080", "10.244.1.2:8080"}},
      {"endpoints for this node, without --zone", "node-b", "", {"10.244.2.1:8080"}},
      {"none for this node: this zone's", "node-d", "zone-a", {"10.244.1.1:8080", "10.244.1.2:8080", "10.244.2.1:8080"}},
      {"none for this node or zone: all", "node-d", "zone-z",
       {"10.244.1.1:8080", "10.244.1.2:8080", "10.244.2.1:8080", "10.244.3.1:8080"}},
      {"none for this node, no --zone: all", "node-d", "",
       {"10.244.1.1:8080", "10.244.1.2:8080", "10.244.2.1:8080", "10.244.3.1:8080"}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    CHECK(served_on(text, c.node, c.zone) == c.expected);
  }
}

TEST_CASE("slice hints are honoured whatever the Service's trafficDistribution, as kube-proxy does") {
  // the controller writes hints only for a service that asks; a slice
  // written by hand or by another controller is taken at its word
  CHECK(served_on(service() + kPreferSameNodeSlice, "node-c", "zone-a") == Strings{"10.244.3.1:8080"});
  CHECK(served_on(service("  trafficDistribution: PreferClose\n") + kPreferSameNodeSlice, "node-c") ==
        Strings{"10.244.3.1:8080"});
}

TEST_CASE("a ready endpoint without a node hint turns node hints off; zone hints still apply") {
  std::string text = service() + kPreferSameNodeSlice +
                     "- {addresses: [10.244.4.1], nodeName: node-d, zone: zone-b, hints: {forZones: [{name: zone-b}]}}\n"
                     "- {addresses: [10.244.5.1], conditions: {ready: false}}\n";  // not ready: does not count
  CHECK(served_on(text, "node-a", "zone-b") == Strings{"10.244.3.1:8080", "10.244.4.1:8080"});
  CHECK(served_on(text, "node-a").size() == 5);
}

TEST_CASE("trafficDistribution PreferSameNode: socklb hints selected Pods for their own node, as the controller would") {
  SUBCASE("ready pods on this node are preferred") {
    CHECK(served_on(service("  trafficDistribution: PreferSameNode\n") + kPods, "node-a") ==
          Strings{"10.244.1.1:8080", "10.244.1.2:8080"});
    CHECK(served_on(service("  trafficDistribution: PreferSameNode\n") + kPods, "node-b") == Strings{"10.244.2.1:8080"});
  }
  SUBCASE("no ready pod on this node: all of them") {
    CHECK(served_on(service("  trafficDistribution: PreferSameNode\n") + kPods, "node-c").size() == 3);
    CHECK(served_on(service("  trafficDistribution: PreferSameNode\n") + kPods + pod("c1", "10.244.3.1", "node-c", false),
                    "node-c")
              .size() == 3);
  }
  SUBCASE("a ready pod without a node makes no node hint, so none is used") {
    CHECK(served_on(service("  trafficDistribution: PreferSameNode\n") + kPods + pod("x", "10.244.9.1", "\"\""), "node-a")
              .size() == 4);
  }
  SUBCASE("without the field, or with a zone preference (Pods carry no zone here), every pod") {
    CHECK(served_on(service() + kPods, "node-a").size() == 3);
    CHECK(served_on(service("  trafficDistribution: PreferClose\n") + kPods, "node-a", "zone-a").size() == 3);
    CHECK(served_on(service("  trafficDistribution: PreferSameZone\n") + kPods, "node-a", "zone-a").size() == 3);
  }
  SUBCASE("internalTrafficPolicy Local decides alone: this node's pods or none") {
    std::string local = service("  trafficDistribution: PreferSameNode\n  internalTrafficPolicy: Local\n") + kPods;
    CHECK(served_on(local, "node-b") == Strings{"10.244.2.1:8080"});
    CHECK(served_on(local, "node-c").empty());
  }
}
