// API objects arrive as JSON: read into the manifest tree, they are checked
// by the manifest parsers' rules (same objects as the YAML of a file), and a
// list's items come one by one.

#include <doctest/doctest.h>

#include "kube/json_tree.h"
#include "manifests/document_parser.h"

using namespace socklb;

namespace {

const char* kService = R"({"apiVersion":"v1","kind":"Service",
  "metadata":{"name":"web","namespace":"shop","resourceVersion":"17","labels":{"app":"web"}},
  "spec":{"clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ipFamilies":["IPv4"],
          "ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080}],
          "sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":60}}}})";

const char* kServiceYaml = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ipFamilies: [IPv4]
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
)";

}  // namespace

TEST_CASE("a Service as JSON parses to the same object as its YAML") {
  auto doc = load_json_document(kService);
  ParsedFile from_json = parse_object_tree(*doc->root(), "api");
  ParsedFile from_yaml = parse_manifest_text(kServiceYaml, "web.yaml");
  REQUIRE(from_json.objects.services.size() == 1);
  REQUIRE(from_yaml.objects.services.size() == 1);
  CHECK(from_json.objects.services[0] == from_yaml.objects.services[0]);
  CHECK(from_json.objects.diagnostics.empty());
}

TEST_CASE("JSON strings stay strings: a quoted port is refused as in YAML") {
  auto doc = load_json_document(
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":"80"}]}})");
  ParsedFile parsed = parse_object_tree(*doc->root(), "api");
  CHECK(parsed.objects.services.empty());
  REQUIRE(parsed.objects.broken.size() == 1);
  CHECK(parsed.objects.broken[0].name == "x");
  REQUIRE(parsed.objects.diagnostics.size() == 1);
  CHECK(parsed.objects.diagnostics[0].field == "spec.ports[0].port");
  CHECK(parsed.objects.diagnostics[0].where.line == 0);  // JSON has no useful lines
}

TEST_CASE("an EndpointSlice with booleans, nulls and nested conditions") {
  auto doc = load_json_document(R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
    "metadata":{"name":"web-abc","namespace":"shop","labels":{"kubernetes.io/service-name":"web"}},
    "addressType":"IPv4","endpoints":[
      {"addresses":["10.244.1.5"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"n1"},
      {"addresses":["10.244.1.6"],"conditions":{"ready":false,"serving":true,"terminating":true},"zone":null}],
    "ports":[{"name":"http","port":8080,"protocol":"TCP"}]})");
  ParsedFile parsed = parse_object_tree(*doc->root(), "api");
  REQUIRE(parsed.objects.slices.size() == 1);
  const EndpointSlice& s = parsed.objects.slices[0];
  CHECK(s.service_name == "web");
  REQUIRE(s.endpoints.size() == 2);
  CHECK(s.endpoints[0].conditions.ready);
  CHECK_FALSE(s.endpoints[1].conditions.ready);
  CHECK(s.endpoints[1].conditions.terminating);
}

TEST_CASE("a list hands over its items one by one and keeps its metadata") {
  std::string list = R"({"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"abc"},"items":[)";
  for (int i = 0; i < 3; ++i) {
    if (i) list += ",";
    list += R"({"kind":"Service","metadata":{"name":"s)" + std::to_string(i) + R"("},"spec":{"items":[1,2]}})";
  }
  list += "]}";
  std::vector<std::string> names;
  auto top = load_json_list(list, [&](YamlDocumentPtr item) {
    names.push_back(item->root()->find("metadata")->find("name")->scalar);
    // an "items" deeper down stays inside its item
    CHECK(item->root()->find("spec")->find("items")->children.size() == 2);
  });
  CHECK(names == std::vector<std::string>{"s0", "s1", "s2"});
  CHECK(top->root()->find("metadata")->find("resourceVersion")->scalar == "42");
  CHECK(top->root()->find("metadata")->find("continue")->scalar == "abc");
  CHECK(top->root()->find("items")->children.empty());
}

TEST_CASE("broken JSON is an error naming the byte") {
  CHECK_THROWS_WITH_AS(load_json_document(R"({"a": [1, 2)"), doctest::Contains("invalid JSON at byte"), JsonSyntaxError);
  CHECK_THROWS_AS(load_json_list(R"({"items": [{"a": 1}, {"b": )", [](YamlDocumentPtr) {}), JsonSyntaxError);
}
