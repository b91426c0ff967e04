// parse_manifest_text on valid input: the typed objects and their defaults.

#include <doctest/doctest.h>

#include <string>

#include "manifests/document_parser.h"

using namespace socklb;

namespace {

ManifestSet parse_clean(const std::string& text) {
  ParsedFile parsed = parse_manifest_text(text, "m.yaml");
  std::string diagnostics;
  for (const auto& d : parsed.objects.diagnostics) diagnostics += d.str() + "\n";
  REQUIRE_MESSAGE(parsed.objects.diagnostics.empty(), diagnostics);
  REQUIRE_FALSE(parsed.unreadable);
  REQUIRE(parsed.objects.broken.empty());
  return std::move(parsed.objects);
}

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

}  // namespace

TEST_CASE("a minimal Service gets the Kubernetes defaults") {
  auto set = parse_clean(R"(apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports:
  - port: 80
)");
  REQUIRE(set.services.size() == 1);
  const Service& svc = set.services[0];
  CHECK(svc.meta.kind == "Service");
  CHECK(svc.meta.ns == "default");
  CHECK(svc.meta.name == "web");
  CHECK(svc.meta.ref() == "Service default/web");
  CHECK(svc.meta.where.file == "m.yaml");
  CHECK(svc.meta.where.line == 1);
  CHECK(svc.cluster_ips == std::vector<IpAddress>{ip("10.96.0.10")});
  CHECK_FALSE(svc.headless);
  CHECK_FALSE(svc.external_name);
  REQUIRE(svc.selector);
  CHECK(*svc.selector == Labels{{"app", "web"}});
  REQUIRE(svc.ports.size() == 1);
  CHECK(svc.ports[0].name == "");
  CHECK(svc.ports[0].protocol == Protocol::TCP);
  CHECK(svc.ports[0].port == 80);
  CHECK(std::get<uint16_t>(svc.ports[0].target) == 80);  // targetPort defaults to port
  CHECK_FALSE(svc.affinity_timeout_sec);
  CHECK_FALSE(svc.internal_traffic_local);
  CHECK(svc.traffic_distribution == TrafficDistribution::Default);
  CHECK_FALSE(svc.publish_not_ready);
}

TEST_CASE("trafficDistribution: PreferClose is the older name of PreferSameZone") {
  auto spec = [](const char* value) {
    return std::string("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: 10.96.0.1, "
                       "trafficDistribution: ") + value + ", ports: [{port: 80}]}\n";
  };
  CHECK(parse_clean(spec("PreferClose")).services[0].traffic_distribution == TrafficDistribution::PreferSameZone);
  CHECK(parse_clean(spec("PreferSameZone")).services[0].traffic_distribution == TrafficDistribution::PreferSameZone);
  CHECK(parse_clean(spec("PreferSameNode")).services[0].traffic_distribution == TrafficDistribution::PreferSameNode);
}

TEST_CASE("a Service with every field socklb reads") {
  auto set = parse_clean(R"(apiVersion: v1
kind: Service
metadata:
  name: dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10, "fd00:10:96::a"]
  ipFamilies: [IPv4, IPv6]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  internalTrafficPolicy: Local
  trafficDistribution: PreferSameNode
  publishNotReadyAddresses: true
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 5353}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: dns-tcp}
  - {name: sig, port: 7777, protocol: SCTP}
)");
  REQUIRE(set.services.size() == 1);
  const Service& svc = set.services[0];
  CHECK(svc.meta.ns == "kube-system");
  CHECK(svc.meta.labels == Labels{{"k8s-app", "kube-dns"}});
  CHECK(svc.cluster_ips == std::vector<IpAddress>{ip("10.96.0.10"), ip("fd00:10:96::a")});
  CHECK_FALSE(svc.selector);
  CHECK(svc.affinity_timeout_sec == 60u);
  CHECK(svc.internal_traffic_local);
  CHECK(svc.traffic_distribution == TrafficDistribution::PreferSameNode);
  CHECK(svc.publish_not_ready);
  REQUIRE(svc.ports.size() == 3);
  CHECK(svc.ports[0].protocol == Protocol::UDP);
  CHECK(std::get<uint16_t>(svc.ports[0].target) == 5353);
  CHECK(svc.ports[1].protocol == Protocol::TCP);
  CHECK(std::get<std::string>(svc.ports[1].target) == "dns-tcp");
  CHECK(svc.ports[2].protocol == Protocol::SCTP);  // the parser accepts SCTP; reconcile skips it
}

TEST_CASE("ClientIP affinity without a timeout defaults to 10800s; headless and ExternalName are recognised") {
  auto set = parse_clean(R"(apiVersion: v1
kind: Service
metadata: {name: sticky}
spec: {clusterIP: 10.96.0.11, sessionAffinity: ClientIP, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec: {clusterIP: None, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: external}
spec: {type: ExternalName, externalName: example.com}
---
apiVersion: v1
kind: Service
metadata: {name: no-ip}
spec: {ports: [{port: 80}]}
)");
  REQUIRE(set.services.size() == 4);
  CHECK(set.services[0].affinity_timeout_sec == 10800u);
  CHECK(set.services[1].headless);
  CHECK(set.services[1].cluster_ips.empty());
  CHECK(set.services[1].meta.where.line == 6);  // its first line after the marker
  CHECK(set.services[2].external_name);
  CHECK(set.services[2].meta.where.line == 11);
  CHECK(set.services[3].cluster_ips.empty());
  CHECK_FALSE(set.services[3].headless);
}

TEST_CASE("an EndpointSlice: conditions default to ready, serving, not terminating") {
  auto set = parse_clean(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv6
endpoints:
- addresses: ["fd00::5", "fd00::6"]
  nodeName: node-a
  zone: zone-a
  hints: {forZones: [{name: zone-a}, {name: zone-b}], forNodes: [{name: node-a}]}
- addresses: ["fd00::7"]
  conditions: {ready: false, serving: true, terminating: true}
ports:
- {name: http, port: 8080}
- {name: udp, port: 53, protocol: UDP}
- {name: all}
)");
  REQUIRE(set.slices.size() == 1);
  const EndpointSlice& slice = set.slices[0];
  CHECK(slice.meta.ns == "shop");
  CHECK(slice.service_name == "web");
  CHECK(slice.family == Family::V6);
  REQUIRE(slice.endpoints.size() == 2);
  CHECK(slice.endpoints[0].address == ip("fd00::5"));  // the first address only
  CHECK(slice.endpoints[0].conditions.ready);
  CHECK(slice.endpoints[0].conditions.serving);
  CHECK_FALSE(slice.endpoints[0].conditions.terminating);
  CHECK(slice.endpoints[0].node_name == "node-a");
  CHECK(slice.endpoints[0].zone == "zone-a");
  CHECK(slice.endpoints[0].hint_zones == std::vector<std::string>{"zone-a", "zone-b"});
  CHECK(slice.endpoints[0].hint_nodes == std::vector<std::string>{"node-a"});
  CHECK_FALSE(slice.endpoints[1].conditions.ready);
  CHECK(slice.endpoints[1].conditions.serving);
  CHECK(slice.endpoints[1].conditions.terminating);
  CHECK_FALSE(slice.endpoints[1].hint_zones);
  CHECK_FALSE(slice.endpoints[1].hint_nodes);
  REQUIRE(slice.ports.size() == 2);  // a port without a number means "all ports": skipped
  CHECK(slice.ports[0].name == "http");
  CHECK(slice.ports[0].protocol == Protocol::TCP);
  CHECK(slice.ports[0].port == 8080);
  CHECK(slice.ports[1].protocol == Protocol::UDP);
}

TEST_CASE("core/v1 Endpoints: ready and not-ready addresses per subset") {
  auto set = parse_clean(R"(apiVersion: v1
kind: Endpoints
metadata: {name: legacy}
subsets:
- addresses: [{ip: 10.244.0.1, nodeName: node-a}, {ip: 10.244.0.2}]
  notReadyAddresses: [{ip: 10.244.0.3}]
  ports: [{name: http, port: 8080}, {name: metrics, port: 9090}]
- addresses: [{ip: 10.244.0.4}]
  ports: [{name: http, port: 8081}]
)");
  REQUIRE(set.endpoints.size() == 1);
  const auto& subsets = set.endpoints[0].subsets;
  REQUIRE(subsets.size() == 2);
  REQUIRE(subsets[0].addresses.size() == 3);
  CHECK(subsets[0].addresses[0].node_name == "node-a");
  CHECK(subsets[0].addresses[1].conditions.ready);
  const auto& not_ready = subsets[0].addresses[2].conditions;
  CHECK(subsets[0].addresses[2].address == ip("10.244.0.3"));
  CHECK_FALSE(not_ready.ready);
  CHECK_FALSE(not_ready.serving);
  CHECK_FALSE(not_ready.terminating);
  CHECK(subsets[0].ports.size() == 2);
  CHECK(subsets[1].ports[0].port == 8081);
}

TEST_CASE("a Pod: IPs, readiness, phase, deletion and container ports") {
  auto set = parse_clean(R"(apiVersion: v1
kind: Pod
metadata:
  name: web-1
  labels: {app: web}
  deletionTimestamp: "2024-01-01T00:00:00Z"
spec:
  nodeName: node-a
  containers:
  - name: app
    ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]
  - name: sidecar
    ports: [{containerPort: 9090}]
status:
  phase: Running
  podIPs: [{ip: 10.244.1.5}, {ip: "fd00::1:5"}]
  conditions: [{type: Initialized, status: "True"}, {type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-2}
status: {phase: Succeeded, podIP: 10.244.1.6, conditions: [{type: Ready, status: "False"}]}
)");
  REQUIRE(set.pods.size() == 2);
  const Pod& pod = set.pods[0];
  CHECK(pod.meta.labels == Labels{{"app", "web"}});
  CHECK(pod.meta.deleting);
  CHECK(pod.node_name == "node-a");
  CHECK(pod.ips == std::vector<IpAddress>{ip("10.244.1.5"), ip("fd00::1:5")});
  CHECK(pod.ready);
  CHECK_FALSE(pod.finished);
  REQUIRE(pod.ports.size() == 3);
  CHECK(pod.ports[1].name == "dns");
  CHECK(pod.ports[1].protocol == Protocol::UDP);
  CHECK(pod.ports[2].port == 9090);
  const Pod& done = set.pods[1];
  CHECK(done.ips == std::vector<IpAddress>{ip("10.244.1.6")});
  CHECK_FALSE(done.ready);
  CHECK(done.finished);
  CHECK_FALSE(done.meta.deleting);
}

TEST_CASE("a Pod's sidecars' ports follow its containers'; other init containers are not read") {
  auto set = parse_clean(R"(apiVersion: v1
kind: Pod
metadata: {name: web-1}
spec:
  initContainers:
  - {name: setup, ports: [{name: web, containerPort: 0}]}
  - {name: proxy, restartPolicy: Always, ports: [{name: proxy, containerPort: 15001}]}
  containers:
  - {name: app, ports: [{name: web, containerPort: 8080}]}
)");
  REQUIRE(set.pods.size() == 1);
  const auto& ports = set.pods[0].ports;
  REQUIRE(ports.size() == 2);
  CHECK(ports[0].name == "web");
  CHECK(ports[0].port == 8080);
  CHECK(ports[1].name == "proxy");
  CHECK(ports[1].port == 15001);
}

TEST_CASE("a List's items are parsed; kinds socklb does not use are counted") {
  auto set = parse_clean(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: d}
---
# only a comment
...
)");
  REQUIRE(set.services.size() == 1);
  CHECK(set.services[0].meta.name == "a");
  CHECK(set.services[0].meta.where.line == 4);
  CHECK(set.ignored_kinds == std::map<std::string, int>{{"ConfigMap", 2}, {"Deployment", 1}});
}

TEST_CASE("booleans in every YAML 1.2 spelling") {
  auto set = parse_clean(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.0.0.1], conditions: {ready: True, serving: TRUE, terminating: False}}
- {addresses: [10.0.0.2], conditions: {ready: FALSE, serving: false, terminating: true}}
)");
  REQUIRE(set.slices.size() == 1);
  const auto& eps = set.slices[0].endpoints;
  REQUIRE(eps.size() == 2);
  CHECK(eps[0].conditions.ready);
  CHECK(eps[0].conditions.serving);
  CHECK_FALSE(eps[0].conditions.terminating);
  CHECK_FALSE(eps[1].conditions.ready);
  CHECK_FALSE(eps[1].conditions.serving);
  CHECK(eps[1].conditions.terminating);
}
