// A connected socket keeps the pod connect() chose. When that pod is removed,
// the agent closes such sockets (bpf/stale_sockets.bpf.c), so the client
// reconnects to a live pod instead of talking to a deleted one.

#include <doctest/doctest.h>

#include "expectations.h"
#include "manifests.h"

using namespace kt;
using Clock = std::chrono::steady_clock;

namespace {

struct Scenario {
  std::string proto;      // "udp" or "tcp"
  std::string port_yaml;  // spec.ports entry
  std::string container_port_yaml;
  std::string pod_a, pod_b;  // IP:PORT the servers listen on
};

// One connected socket asking every 10 ms, as a resolver or a connection
// pool would; its pod is removed while it asks.
void removed_pod_closes_its_sockets(const Scenario& s) {
  Testbed node;
  if (s.proto == "udp") node.serve({}, {s.pod_a, s.pod_b});
  else node.serve({s.pod_a, s.pod_b}, {}, true);
  auto ip = [](const std::string& ep) { return ep.substr(0, ep.find(':')); };
  auto a_pod = pod({.name = "pod-a", .ip = ip(s.pod_a), .app = "svc", .ports_yaml = s.container_port_yaml});
  auto b_pod = pod({.name = "pod-b", .ip = ip(s.pod_b), .app = "svc", .ports_yaml = s.container_port_yaml});
  auto svc = service("svc", "10.96.0.53", s.port_yaml, "svc");
  node.write_manifest("svc.yaml", svc + a_pod + b_pod);
  node.start_agent();

  ChildProcess client({SOCKLB_PROBE_BIN, "--netns", node.netns(), "--cgroup", node.cgroup().string(), "connect", "--to",
                       "10.96.0.53:53", "--proto", s.proto, "--reuse-socket", "--count", "150", "--interval-ms", "10",
                       "--timeout-ms", "500"});
  REQUIRE(client.wait_for_line([](const std::string&) { return true; }, 20, std::chrono::seconds(10)) >= 0);
  auto chosen = parse_attempts(client.lines()).front();
  REQUIRE(chosen.ok);
  bool a_chosen = chosen.backend == s.pod_a;
  std::string live = a_chosen ? s.pod_b : s.pod_a;

  node.apply("svc.yaml", svc + (a_chosen ? b_pod : a_pod));
  int line = node.agent().wait_for_line(
      [](const std::string& l) {
        auto e = agent_event(l);
        return e && (*e)["event"] == "sockets_closed" && (*e)["count"] == 1;
      },
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
  MESSAGE(s.proto, ": ", attempts.size(), " requests on one connected socket; to the removed pod after its socket was closed: ",
          stale_after, "; failed: ", failed, "; to the live pod after: ", live_after);
  CHECK(before >= 20);      // the socket kept its pod while it lived
  CHECK(stale_after == 0);  // and left it once the pod was removed
  CHECK(failed <= 1);       // the one request in flight on the closed socket
  CHECK(live_after > 50);
}

}  // namespace

TEST_CASE("a connected UDP socket whose pod is removed is closed; the client's next socket reaches a live pod") {
  removed_pod_closes_its_sockets({"udp", "  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}\n",
                                  "    - {name: dns, containerPort: 5353, protocol: UDP}\n", "10.244.5.10:5353",
                                  "10.244.5.11:5353"});
}

TEST_CASE("a held TCP connection whose pod is removed is closed; the client's next connection reaches a live pod") {
  removed_pod_closes_its_sockets({"tcp", "  - {name: app, port: 53, targetPort: 8080}\n",
                                  "    - {name: app, containerPort: 8080}\n", "10.244.6.10:8080", "10.244.6.11:8080"});
}
