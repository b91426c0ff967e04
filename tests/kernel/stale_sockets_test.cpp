// A connected socket keeps the pod connect() chose. When that pod is removed,
// the agent closes such sockets (bpf/stale_sockets.bpf.c), so the client
// reconnects to a live pod instead of talking to a deleted one.

#include <doctest/doctest.h>

#include "expectations.h"
#include "manifests.h"

using namespace kt;
using Clock = std::chrono::steady_clock;

TEST_CASE("a connected UDP socket whose pod is removed is closed; the client's next socket reaches a live pod") {
  Testbed node;
  node.serve({}, {"10.244.5.10:5353", "10.244.5.11:5353"});
  const std::string dns_port = "  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}\n";
  auto dns_pod = [](const std::string& name, const std::string& ip) {
    return pod({.name = name, .ip = ip, .app = "dns", .ports_yaml = "    - {name: dns, containerPort: 5353, protocol: UDP}\n"});
  };
  node.write_manifest("dns.yaml", service("dns", "10.96.0.53", dns_port, "dns") + dns_pod("dns-a", "10.244.5.10") +
                                      dns_pod("dns-b", "10.244.5.11"));
  node.start_agent();

  // one connected socket, asked every 10 ms, as a resolver would
  ChildProcess client({SOCKLB_PROBE_BIN, "--netns", node.netns(), "--cgroup", node.cgroup().string(), "connect", "--to",
                       "10.96.0.53:53", "--proto", "udp", "--reuse-socket", "--count", "150", "--interval-ms", "10",
                       "--timeout-ms", "500"});
  REQUIRE(client.wait_for_line([](const std::string&) { return true; }, 20, std::chrono::seconds(10)) >= 0);
  auto chosen = parse_attempts(client.lines()).front();
  REQUIRE(chosen.ok);
  bool a_chosen = chosen.backend == "10.244.5.10:5353";
  std::string live = a_chosen ? "10.244.5.11:5353" : "10.244.5.10:5353";

  node.apply("dns.yaml", service("dns", "10.96.0.53", dns_port, "dns") +
                             (a_chosen ? dns_pod("dns-b", "10.244.5.11") : dns_pod("dns-a", "10.244.5.10")));
  int line = node.agent().wait_for_line(
      [](const std::string& l) { return l.find("closed 1 connected socket whose backend was removed") != std::string::npos; },
      0, std::chrono::seconds(5));
  auto closed_at = Clock::now();
  CHECK_MESSAGE(line >= 0, node.agent().output());
  REQUIRE(client.wait() == 0);

  auto attempts = parse_attempts(client.lines());
  int before = 0, stale_after = 0, failed = 0, live_after = 0;
  for (const auto& a : attempts) {
    if (!a.ok) {
      failed++;
      continue;
    }
    if (a.started < closed_at) before += a.backend == chosen.backend;
    else if (a.backend == chosen.backend) stale_after++;
    else live_after += a.backend == live;
  }
  MESSAGE(attempts.size(), " queries on one connected socket; to the removed pod after its socket was closed: ",
          stale_after, "; failed: ", failed, "; to the live pod after: ", live_after);
  CHECK(before >= 20);       // the socket kept its pod while it lived
  CHECK(stale_after == 0);   // and left it once the pod was removed
  CHECK(failed <= 1);        // the one query in flight on the closed socket
  CHECK(live_after > 50);
}
