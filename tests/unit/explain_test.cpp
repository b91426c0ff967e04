// socklb explain: what a connect to one destination would do, from the maps.

#include <doctest/doctest.h>

#include "agent/syncer.h"
#include "cli/explain.h"
#include "desired_helpers.h"
#include "fake_map_store.h"

using namespace socklb;
using namespace socklb::test;

namespace {

const std::string kManifests = R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.96.0.10, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}], sessionAffinity: ClientIP}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {clusterIP: 10.96.0.20, selector: {app: nothing}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-a, labels: {app: web}}
status: {podIP: 10.244.0.1, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, labels: {app: web}, deletionTimestamp: "2026-01-01T00:00:00Z"}
status: {podIP: 10.244.0.2, conditions: [{type: Ready, status: "True"}]}
)";

Explanation explain_text(const MapStore& maps, const std::string& destination) {
  auto to = parse_destination(destination);
  REQUIRE(to.has_value());
  return explain(read_kernel_state(maps), *to);
}

}  // namespace

TEST_CASE("explain: translated, refused for each reason, or untouched, as the maps say") {
  FakeMapStore maps;
  Syncer syncer(maps, settings());
  syncer.sync(manifests(kManifests));

  Explanation web = explain_text(maps, "10.96.0.10:80");
  CHECK(web.verdict == "translated");
  REQUIRE(web.service.has_value());
  CHECK(service_label(*web.service) == "default/web:http");
  CHECK(web.service->live == 1);  // web-b is terminating while web-a is ready
  CHECK(web.service->affinity_timeout_sec == 10800);
  // word for word as the README shows it
  CHECK(render_text(web) ==
        "10.96.0.10:80/TCP: service default/web:http\n"
        "  translated to one of 1 backend, chosen at random (sessionAffinity ClientIP: a client keeps its backend for "
        "10800 s):\n"
        "    10.244.0.1:8080  active\n"
        "    10.244.0.2:8080  serving  (kept for connections that use it; no new ones)\n");
  CHECK(render_json(web)["service"]["name"] == "web");

  Explanation no_port = explain_text(maps, "10.96.0.10:81");
  CHECK((no_port.verdict == "refused" && no_port.reason == "no-such-port"));
  CHECK(render_text(no_port) == "10.96.0.10:81/TCP: refused (ECONNREFUSED): 10.96.0.10 is a ClusterIP, but it has no 81/TCP port\n");
  Explanation udp = explain_text(maps, "10.96.0.10:80/udp");
  CHECK((udp.verdict == "refused" && udp.reason == "no-such-port"));

  Explanation empty = explain_text(maps, "10.96.0.20:80");
  CHECK((empty.verdict == "refused" && empty.reason == "no-backend"));
  CHECK(render_json(empty)["reason"] == "no-backend");

  Explanation pod = explain_text(maps, "10.244.0.1:8080");
  CHECK((pod.verdict == "untouched" && pod.reason == "pod-address"));
  CHECK(pod.backs == std::vector<std::string>{"default/web:http"});

  Explanation other = explain_text(maps, "192.0.2.1:443");
  CHECK((other.verdict == "untouched" && other.reason == "not-a-service-address"));
}

TEST_CASE("explain: destinations it accepts and refuses") {
  CHECK(parse_destination("10.96.0.10:80").has_value());
  CHECK(parse_destination("10.96.0.10:53/UDP")->protocol == Protocol::UDP);
  CHECK(parse_destination("[fd00:10:96::1]:80/tcp")->ip.str() == "fd00:10:96::1");
  CHECK_FALSE(parse_destination("fd00::1:80").has_value());  // IPv6 without brackets
  CHECK_FALSE(parse_destination("10.96.0.10").has_value());
  CHECK_FALSE(parse_destination("10.96.0.10:0").has_value());
  CHECK_FALSE(parse_destination("10.96.0.10:70000").has_value());
  CHECK_FALSE(parse_destination("10.96.0.10:80/sctp").has_value());
  CHECK_FALSE(parse_destination("web:80").has_value());
}
