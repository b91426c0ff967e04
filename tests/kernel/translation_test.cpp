// Connects to ClusterIPs reach the pods behind them: spread, ports, protocols,
// families, and what the client sees.

#include <doctest/doctest.h>

#include "expectations.h"
#include "manifests.h"

using namespace kt;

TEST_CASE("connects to a ClusterIP spread over both pods, and the client sees the ClusterIP") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080"});
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}) +
                                      pod({"web-b", "10.244.1.11"}));
  node.start_agent();

  auto attempts = node.connect("10.96.0.10:80", {.count = 200});
  auto counts = count_by_backend(attempts);
  INFO(describe(attempts));
  CHECK(count_ok(attempts) == 200);
  CHECK(counts["10.244.1.10:8080"] >= 50);
  CHECK(counts["10.244.1.11:8080"] >= 50);
  for (const auto& a : attempts) CHECK(a.peer == "10.96.0.10:80");
}

TEST_CASE("a named targetPort resolves per pod") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:9090"});
  PodSpec a{"web-a", "10.244.1.10"}, b{"web-b", "10.244.1.11"};
  b.ports_yaml = "    - {name: http, containerPort: 9090}\n";
  node.write_manifest("web.yaml", service("web", "10.96.0.10", "  - {name: web, port: 80, targetPort: http}\n") +
                                      pod(a) + pod(b));
  node.start_agent();

  auto counts = count_by_backend(node.connect("10.96.0.10:80", {.count = 60}));
  CHECK(counts["10.244.1.10:8080"] > 0);
  CHECK(counts["10.244.1.11:9090"] > 0);
  CHECK(counts["10.244.1.10:8080"] + counts["10.244.1.11:9090"] == 60);
}

TEST_CASE("one service, several ports; TCP and UDP share a port number with different targets") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.10:9100", "10.244.1.10:5300"}, {"10.244.1.10:5353"});
  PodSpec a{"web-a", "10.244.1.10"};
  a.ports_yaml = "    - {name: http, containerPort: 8080}\n";
  node.write_manifest("web.yaml",
                      service("web", "10.96.0.10",
                              "  - {name: http, port: 80, targetPort: 8080}\n"
                              "  - {name: metrics, port: 9100}\n"
                              "  - {name: dns-tcp, port: 53, targetPort: 5300, protocol: TCP}\n"
                              "  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}\n") +
                          pod(a));
  node.start_agent();

  CHECK(node.connect("10.96.0.10:80")[0].backend == "10.244.1.10:8080");
  CHECK(node.connect("10.96.0.10:9100")[0].backend == "10.244.1.10:9100");
  CHECK(node.connect("10.96.0.10:53")[0].backend == "10.244.1.10:5300");
  CHECK(node.connect("10.96.0.10:53", {.proto = "udp"})[0].backend == "10.244.1.10:5353");
}

TEST_CASE("UDP: replies come from the ClusterIP, and a socket keeps its pod") {
  Testbed node;
  node.serve({}, {"10.244.1.10:5353", "10.244.1.11:5353"});
  node.write_manifest("dns.yaml",
                      service("dns", "10.96.0.53", "  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}\n", "dns") +
                          pod({.name = "dns-a", .ip = "10.244.1.10", .app = "dns"}) +
                          pod({.name = "dns-b", .ip = "10.244.1.11", .app = "dns"}));
  node.start_agent();

  SUBCASE("unconnected sendto/recvfrom") {
    auto attempts = node.connect("10.96.0.53:53", {.proto = "udp-unconnected", .count = 40});
    auto counts = count_by_backend(attempts);
    INFO(describe(attempts));
    CHECK(count_ok(attempts) == 40);
    CHECK(counts["10.244.1.10:5353"] > 0);
    CHECK(counts["10.244.1.11:5353"] > 0);
    for (const auto& a : attempts) CHECK(a.peer == "10.96.0.53:53");  // recvfrom() shows the VIP
  }
  SUBCASE("one unconnected socket talks to one pod") {
    auto attempts = node.connect("10.96.0.53:53", {.proto = "udp-unconnected", .count = 20, .reuse_socket = true});
    CHECK(count_by_backend(attempts).size() == 1);
    CHECK(count_ok(attempts) == 20);
  }
  SUBCASE("connected UDP") {
    auto attempts = node.connect("10.96.0.53:53", {.proto = "udp", .count = 10});
    CHECK(count_ok(attempts) == 10);
    for (const auto& a : attempts) CHECK(a.peer == "10.96.0.53:53");
  }
}

TEST_CASE("IPv6 and dual-stack services; IPv4 clients on IPv6 sockets") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "[fd00:10:244::10]:8080"});
  node.write_manifest("web.yaml",
                      service("web", "10.96.0.10", kHttpPort, "web",
                              "  clusterIPs: [10.96.0.10, \"fd00:10:96::10\"]\n  ipFamilies: [IPv4, IPv6]\n") +
                          pod({.name = "web-a", .ip = "10.244.1.10", .ip6 = "fd00:10:244::10"}));
  node.start_agent();

  auto v6 = node.connect("[fd00:10:96::10]:80", {.count = 5});
  CHECK(count_ok(v6) == 5);
  CHECK(v6[0].backend == "[fd00:10:244::10]:8080");
  CHECK(v6[0].peer == "[fd00:10:96::10]:80");

  auto mapped = node.connect("10.96.0.10:80", {.count = 5, .v4_mapped = true});
  CHECK(count_ok(mapped) == 5);
  CHECK(mapped[0].backend == "10.244.1.10:8080");
  CHECK(mapped[0].peer == "[::ffff:10.96.0.10]:80");

  auto v4 = node.connect("10.96.0.10:80");
  CHECK(v4[0].backend == "10.244.1.10:8080");
}
