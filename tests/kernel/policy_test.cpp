// Which connects are refused, left alone, or pinned to a pod: REJECT
// semantics, affinity, endpoint conditions and traffic policy.

#include <doctest/doctest.h>

#include "expectations.h"
#include "manifests.h"

using namespace kt;

TEST_CASE("refused at once: no usable endpoint, or a port the ClusterIP does not define; others untouched") {
  Testbed node;
  node.serve({"10.244.1.10:8080"});
  node.write_manifest("svc.yaml",
                      service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}) +
                          service("empty", "10.96.0.20", kHttpPort + "  - {name: dns, port: 53, protocol: UDP}\n",
                                  "nothing-matches"));
  node.start_agent();

  auto no_endpoints = node.connect("10.96.0.20:80");
  CHECK(no_endpoints[0].error == "ECONNREFUSED");
  CHECK(no_endpoints[0].ms < 500);
  CHECK(node.connect("10.96.0.20:53", {.proto = "udp"})[0].error == "ECONNREFUSED");
  CHECK(node.connect("10.96.0.20:53", {.proto = "udp-unconnected"})[0].error == "ECONNREFUSED");
  CHECK(node.connect("10.96.0.10:81")[0].error == "ECONNREFUSED");  // known ClusterIP, undefined port

  // not a ClusterIP: not ours, so the kernel decides (this namespace has no route)
  CHECK(node.connect("10.96.0.99:80")[0].error == "ENETUNREACH");
  auto direct = node.connect("10.244.1.10:8080");
  CHECK(direct[0].ok);
  CHECK(direct[0].peer == "10.244.1.10:8080");

  // socklb explain says the same from the maps
  auto explain = [&](const std::string& to) {
    auto result = node.socklb({"explain", to, "-o", "json"});
    REQUIRE_MESSAGE(result.code == 0, result.output);
    auto json = nlohmann::json::parse(result.output);
    return json["verdict"].get<std::string>() + (json["reason"].is_null() ? "" : " " + json["reason"].get<std::string>());
  };
  CHECK(explain("10.96.0.10:80") == "translated");
  CHECK(explain("10.96.0.20:80") == "refused no-backend");
  CHECK(explain("10.96.0.20:53/udp") == "refused no-backend");
  CHECK(explain("10.96.0.10:81") == "refused no-such-port");
  CHECK(explain("10.96.0.99:80") == "untouched not-a-service-address");
  CHECK(explain("10.244.1.10:8080") == "untouched pod-address");
  auto bad = node.socklb({"explain", "web:80"});
  CHECK(bad.code != 0);
  CHECK(bad.output.find("ADDRESS:PORT") != std::string::npos);
}

TEST_CASE("sessionAffinity ClientIP sticks to one pod; switching it off spreads again") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080"});
  std::string pods = pod({"web-a", "10.244.1.10"}) + pod({"web-b", "10.244.1.11"});
  std::string sticky = "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 300}}\n";
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort, "web", sticky) + pods);
  node.start_agent();

  auto stuck = node.connect("10.96.0.10:80", {.count = 20});
  INFO(describe(stuck));
  CHECK(count_ok(stuck) == 20);
  CHECK(count_by_backend(stuck).size() == 1);
  CHECK(node.services()[0]["session_affinity_timeout_seconds"] == 300);

  node.apply("web.yaml", service("web", "10.96.0.10", kHttpPort) + pods);
  auto spread = count_by_backend(node.connect("10.96.0.10:80", {.count = 100}));
  CHECK(spread["10.244.1.10:8080"] > 10);
  CHECK(spread["10.244.1.11:8080"] > 10);

  node.apply("web.yaml", service("web", "10.96.0.10", kHttpPort, "web", sticky) + pods);
  CHECK(count_by_backend(node.connect("10.96.0.10:80", {.count = 20})).size() == 1);
}

TEST_CASE("terminating pods serve only while no pod is ready") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080"});
  std::string svc = service("web", "10.96.0.10", kHttpPort);
  node.write_manifest("web.yaml", svc + pod({"web-a", "10.244.1.10"}) +
                                      pod({.name = "web-b", .ip = "10.244.1.11", .terminating = true}));
  node.start_agent();
  CHECK(count_by_backend(node.connect("10.96.0.10:80", {.count = 30})) ==
        std::map<std::string, int>{{"10.244.1.10:8080", 30}});

  node.apply("web.yaml", svc + pod({.name = "web-a", .ip = "10.244.1.10", .ready = false}) +
                             pod({.name = "web-b", .ip = "10.244.1.11", .terminating = true}));
  CHECK(count_by_backend(node.connect("10.96.0.10:80", {.count = 30})) ==
        std::map<std::string, int>{{"10.244.1.11:8080", 30}});
  CHECK(node.services()[0]["backends"][0]["state"] == "terminating");
}

TEST_CASE("internalTrafficPolicy Local uses this node's pods only, and none means refused") {
  Testbed node;  // the agent runs as --node-name node-a
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080"});
  std::string local = "  internalTrafficPolicy: Local\n";
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort, "web", local) +
                                      pod({"web-a", "10.244.1.10"}) +
                                      pod({.name = "web-b", .ip = "10.244.1.11", .node = "node-b"}));
  node.start_agent();
  CHECK(count_by_backend(node.connect("10.96.0.10:80", {.count = 30})) ==
        std::map<std::string, int>{{"10.244.1.10:8080", 30}});

  node.apply("web.yaml", service("web", "10.96.0.10", kHttpPort, "web", local) +
                             pod({.name = "web-b", .ip = "10.244.1.11", .node = "node-b"}));
  CHECK(node.connect("10.96.0.10:80")[0].error == "ECONNREFUSED");
}

TEST_CASE("a pod removed from the manifests gets no new connects within a second") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080", "10.244.1.12:8080"});
  std::string svc = service("web", "10.96.0.10", kHttpPort);
  node.write_manifest("web.yaml", svc + pod({"web-a", "10.244.1.10"}) + pod({"web-b", "10.244.1.11"}) +
                                      pod({"web-c", "10.244.1.12"}));
  node.start_agent();
  CHECK(count_by_backend(node.connect("10.96.0.10:80", {.count = 60}))["10.244.1.12:8080"] > 0);

  auto start = std::chrono::steady_clock::now();
  node.apply("web.yaml", svc + pod({"web-a", "10.244.1.10"}) + pod({"web-b", "10.244.1.11"}));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::seconds(1));
  auto after = node.connect("10.96.0.10:80", {.count = 100});
  CHECK(count_ok(after) == 100);
  CHECK(count_by_backend(after).count("10.244.1.12:8080") == 0);
}
