// parse_manifest_text on broken input: every error names the file, the line,
// the object and the field, and a broken object leaves behind what is known.

#include <doctest/doctest.h>

#include <string>

#include "manifests/document_parser.h"

using namespace socklb;

namespace {

// A service with one field swapped in at line 6 (after the header lines).
std::string service_with(const std::string& spec_lines) {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n" + spec_lines;
}

std::string slice_with(const std::string& body) {
  return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n"
         "  labels: {kubernetes.io/service-name: web}\n" + body;
}

std::string pod_with(const std::string& body) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {app: web}\n" + body;
}

}  // namespace

TEST_CASE("each invalid field is reported with file, line, object and field path") {
  struct Case {
    const char* what;
    std::string text;
    int line;
    const char* object;
    const char* field;
    const char* message;  // a part of it
  };
  const Case cases[] = {
      {"quoted port", service_with("  ports:\n  - port: \"8080\"\n"), 7, "Service default/web", "spec.ports[0].port",
       "expected a number"},
      {"port 0", service_with("  ports:\n  - port: 0\n"), 7, "Service default/web", "spec.ports[0].port", "out of range"},
      {"port 65536", service_with("  ports:\n  - port: 65536\n"), 7, "Service default/web", "spec.ports[0].port",
       "out of range"},
      {"targetPort 0", service_with("  ports:\n  - port: 80\n    targetPort: 0\n"), 8, "Service default/web",
       "spec.ports[0].targetPort", "out of range"},
      {"bad targetPort name", service_with("  ports:\n  - port: 80\n    targetPort: Http_Port\n"), 8,
       "Service default/web", "spec.ports[0].targetPort", "neither a port number nor a valid port name"},
      {"list where a mapping is expected", service_with("  - port: 80\n"), 6, "Service default/web", "spec",
       "expected a mapping"},
      {"mapping where a list is expected", service_with("  ports: {port: 80}\n"), 6, "Service default/web",
       "spec.ports", "expected a list"},
      {"bad clusterIP", service_with("  clusterIP: 10.96.0.300\n"), 6, "Service default/web", "spec.clusterIP",
       "not an IP address"},
      {"IPv4-mapped clusterIP", service_with("  clusterIP: \"::ffff:10.96.0.1\"\n"), 6, "Service default/web",
       "spec.clusterIP", "not an IP address"},
      {"two clusterIPs of one family", service_with("  clusterIPs: [10.96.0.1, 10.96.0.2]\n"), 6,
       "Service default/web", "spec.clusterIPs[1]", "same family"},
      {"ipFamilies disagree", service_with("  clusterIP: 10.96.0.1\n  ipFamilies: [IPv6]\n"), 7, "Service default/web",
       "spec.ipFamilies[0]", "does not match"},
      {"duplicate port names", service_with("  ports:\n  - {name: a, port: 80}\n  - {name: a, port: 81}\n"), 8,
       "Service default/web", "spec.ports[1].name", "used by another port"},
      {"missing name on a multi-port service", service_with("  ports:\n  - {name: a, port: 80}\n  - {port: 81}\n"), 8,
       "Service default/web", "spec.ports[1].name", "required when a service has several ports"},
      {"port/protocol twice", service_with("  ports:\n  - {name: a, port: 80}\n  - {name: b, port: 80}\n"), 8,
       "Service default/web", "spec.ports[1].port", "defined twice"},
      {"unknown protocol", service_with("  ports:\n  - {port: 80, protocol: HTTP}\n"), 7, "Service default/web",
       "spec.ports[0].protocol", "not a protocol"},
      {"unknown affinity", service_with("  sessionAffinity: Sticky\n"), 6, "Service default/web", "spec.sessionAffinity",
       "not None or ClientIP"},
      {"affinity timeout 0",
       service_with("  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 0\n"),
       9, "Service default/web", "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "out of range"},
      {"affinity timeout over a day",
       service_with("  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 86401\n"),
       9, "Service default/web", "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "out of range"},
      {"unknown traffic policy", service_with("  internalTrafficPolicy: Nearby\n"), 6, "Service default/web",
       "spec.internalTrafficPolicy", "not Cluster or Local"},
      {"unknown traffic distribution", service_with("  trafficDistribution: PreferSameRack\n"), 6, "Service default/web",
       "spec.trafficDistribution", "not PreferClose, PreferSameZone or PreferSameNode"},
      {"node hint without a name",
       slice_with("addressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n  hints:\n    forNodes: [{}]\n"), 10,
       "EndpointSlice default/web-1", "endpoints[0].hints.forNodes[0].name", "is required"},
      {"boolean as text", service_with("  publishNotReadyAddresses: \"yes\"\n"), 6, "Service default/web",
       "spec.publishNotReadyAddresses", "expected true or false"},
      {"number where a string is expected", service_with("  selector: {app: 1}\n"), 6, "Service default/web",
       "spec.selector.app", "expected a string"},
      {"invalid service name", "apiVersion: v1\nkind: Service\nmetadata:\n  name: Web_1\n", 4, "Service default/Web_1",
       "metadata.name", "not a valid service name"},
      {"invalid namespace", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: Prod\n", 5,
       "Service Prod/web", "metadata.namespace", "not a valid namespace"},
      {"missing name", "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: prod\n", 4, "Service",
       "metadata.name", "is required"},
      {"slice IP of the wrong family", slice_with("addressType: IPv4\nendpoints:\n- addresses: [\"fd00::1\"]\n"), 8,
       "EndpointSlice default/web-1", "endpoints[0].addresses[0]", "not an IPv4 address"},
      {"slice bad IP", slice_with("addressType: IPv4\nendpoints:\n- addresses: [10.0.0.999]\n"), 8,
       "EndpointSlice default/web-1", "endpoints[0].addresses[0]", "not an IP address"},
      {"slice without addresses", slice_with("addressType: IPv4\nendpoints:\n- addresses: []\n"), 8,
       "EndpointSlice default/web-1", "endpoints[0].addresses", "at least one address"},
      {"slice of an unknown addressType", slice_with("addressType: IPv5\n"), 6, "EndpointSlice default/web-1",
       "addressType", "not IPv4, IPv6 or FQDN"},
      {"slice ready as text", slice_with("addressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n  conditions: {ready: \"true\"}\n"),
       9, "EndpointSlice default/web-1", "endpoints[0].conditions.ready", "expected true or false"},
      {"slice port 65536", slice_with("addressType: IPv4\nports:\n- {name: http, port: 65536}\n"), 8,
       "EndpointSlice default/web-1", "ports[0].port", "out of range"},
      {"slice without service-name label",
       "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: s\n  labels: {app: web}\naddressType: IPv4\n",
       5, "EndpointSlice default/s", "metadata.labels", "kubernetes.io/service-name"},
      {"pod containerPort 0", pod_with("spec:\n  containers:\n  - ports: [{containerPort: 0}]\n"), 8,
       "Pod default/p", "spec.containers[0].ports[0].containerPort", "out of range"},
      {"sidecar containerPort 0",
       pod_with("spec:\n  initContainers:\n  - restartPolicy: Always\n    ports: [{containerPort: 0}]\n"), 9,
       "Pod default/p", "spec.initContainers[0].ports[0].containerPort", "out of range"},
      {"pod bad podIP", pod_with("status:\n  podIP: 10.1.1\n"), 7, "Pod default/p", "status.podIP", "not an IP address"},
      {"pod two IPs of one family", pod_with("status:\n  podIPs: [{ip: 10.0.0.1}, {ip: 10.0.0.2}]\n"), 7,
       "Pod default/p", "status.podIPs", "one address per family"},
      {"endpoints bad ip", "apiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\nsubsets:\n- addresses: [{ip: x}]\n", 5,
       "Endpoints default/e", "subsets[0].addresses[0].ip", "not an IP address"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    ParsedFile parsed = parse_manifest_text(c.text, "dir/bad.yaml");
    CHECK_FALSE(parsed.unreadable);  // the document was read; one object is invalid
    const auto& set = parsed.objects;
    CHECK(set.services.size() + set.slices.size() + set.pods.size() + set.endpoints.size() == 0);
    CHECK(set.broken.size() == 1);
    REQUIRE(set.diagnostics.size() == 1);
    const Diagnostic& d = set.diagnostics[0];
    CAPTURE(d.str());
    CHECK(d.severity == Diagnostic::Severity::Error);
    CHECK(d.where.file == "dir/bad.yaml");
    CHECK(d.where.line == c.line);
    CHECK(d.object == c.object);
    CHECK(d.field == c.field);
    CHECK(d.message.find(c.message) != std::string::npos);
  }
}

TEST_CASE("a broken object keeps what is known of it: namespace, name, labels") {
  ParsedFile parsed = parse_manifest_text(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: shop
  labels: {app: web, tier: front}
spec:
  containers: [{ports: [{containerPort: 99999}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: [oops]}
spec: {}
---
apiVersion: v1
kind: Service
metadata: [not, a, mapping]
)", "m.yaml");
  const auto& broken = parsed.objects.broken;
  REQUIRE(broken.size() == 3);
  CHECK(broken[0].kind == "Pod");
  CHECK(broken[0].ns == "shop");
  CHECK(broken[0].name == "p");
  CHECK(broken[0].labels == Labels{{"app", "web"}, {"tier", "front"}});
  CHECK(broken[1].kind == "Service");
  CHECK(broken[1].ns == "shop");
  CHECK(broken[1].name == "web");
  CHECK_FALSE(broken[1].labels);  // the labels themselves are what is broken
  CHECK(broken[2].kind == "Service");
  CHECK_FALSE(broken[2].ns);  // unknown: the reconciler must hold everything
  CHECK_FALSE(broken[2].name);
  REQUIRE(parsed.objects.diagnostics.size() == 3);
  CHECK(parsed.objects.diagnostics[1].object == "Service shop/web");
  CHECK(parsed.objects.diagnostics[1].field == "metadata.labels");
  CHECK(parsed.objects.diagnostics[1].where.line == 12);
  CHECK(parsed.objects.diagnostics[2].where.line == 17);
}

TEST_CASE("an invalid YAML document is unreadable; the documents around it still parse") {
  ParsedFile parsed = parse_manifest_text(R"(apiVersion: v1
kind: Service
metadata: {name: a}
spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b
spec: {clusterIP: 10.96.0.2, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: c}
spec: {clusterIP: 10.96.0.3, ports: [{port: 80}]}
)", "m.yaml");
  CHECK(parsed.unreadable);
  REQUIRE(parsed.objects.services.size() == 2);
  CHECK(parsed.objects.services[0].meta.name == "a");
  CHECK(parsed.objects.services[1].meta.name == "c");
  CHECK(parsed.objects.services[1].meta.where.line == 11);
  REQUIRE(parsed.objects.diagnostics.size() == 1);
  const Diagnostic& d = parsed.objects.diagnostics[0];
  CHECK(d.where.file == "m.yaml");
  CHECK(d.where.line >= 8);  // somewhere in the second document, past the unclosed brace
  CHECK(d.where.line <= 10);
  CHECK(d.message.find("invalid YAML") == 0);
}

TEST_CASE("documents that cannot be classified make the file unreadable") {
  struct Case {
    const char* what;
    const char* text;
    int line;
  };
  const Case cases[] = {
      {"a list document", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n- a\n- b\n", 4},
      {"a scalar document", "just text\n", 1},
      {"no kind", "apiVersion: v1\nmetadata: {name: x}\n", 1},
      {"kind is not a string", "apiVersion: v1\nmetadata: {name: x}\nkind: [Service]\n", 3},
      {"no apiVersion", "---\nkind: Service\nmetadata: {name: x}\n", 2},
      {"bad indentation", "apiVersion: v1\nkind: Service\n metadata: x\n", 3},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    ParsedFile parsed = parse_manifest_text(c.text, "m.yaml");
    CHECK(parsed.unreadable);
    CHECK(parsed.objects.broken.empty());
    REQUIRE(parsed.objects.diagnostics.size() >= 1);
    CHECK(parsed.objects.diagnostics.back().where.line == c.line);
  }
}

TEST_CASE("a known kind of an unsupported apiVersion is a warning, not an object") {
  ParsedFile parsed = parse_manifest_text(R"(apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata: {name: old}
)", "m.yaml");
  CHECK(parsed.objects.slices.empty());
  CHECK_FALSE(parsed.unreadable);
  REQUIRE(parsed.objects.diagnostics.size() == 1);
  CHECK(parsed.objects.diagnostics[0].severity == Diagnostic::Severity::Warning);
  CHECK(parsed.objects.diagnostics[0].message.find("discovery.k8s.io/v1beta1") != std::string::npos);
}

TEST_CASE("Diagnostic::str locates the problem for the operator") {
  Diagnostic d{Diagnostic::Severity::Error, {"manifests/a.yaml", 12}, "Service default/x", "spec.ports[0].port",
               "70000 is out of range"};
  CHECK(d.str() == "manifests/a.yaml:12: Service default/x: spec.ports[0].port: 70000 is out of range");
  d.where.line = 0;
  d.object.clear();
  d.field.clear();
  CHECK(d.str() == "manifests/a.yaml: 70000 is out of range");
}
