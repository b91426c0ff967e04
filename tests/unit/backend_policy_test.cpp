// usable_backends: kube-proxy's choice of endpoints (pkg/proxy/topology.go).

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "desired/backend_policy.h"

using namespace socklb;

namespace {

constexpr EndpointConditions kReady{true, true, false};
constexpr EndpointConditions kNotReady{false, false, false};
constexpr EndpointConditions kTerminatingServing{false, true, true};
constexpr EndpointConditions kTerminatingNotServing{false, false, true};
constexpr EndpointConditions kServingNotReady{false, true, false};  // serving, neither ready nor terminating

Candidate cand(const char* ip, EndpointConditions conditions, std::string node = "",
               std::optional<std::vector<std::string>> hints = std::nullopt, uint16_t port = 8080) {
  return {*IpAddress::parse(ip), port, conditions, std::move(node), "", std::move(hints)};
}

using Names = std::optional<std::vector<std::string>>;

// An endpoint with both kinds of hints (hints.forNodes, hints.forZones).
Candidate hinted(const char* ip, EndpointConditions conditions, Names nodes, Names zones, std::string node = "") {
  Candidate c = cand(ip, conditions, std::move(node), std::move(zones));
  c.hint_nodes = std::move(nodes);
  return c;
}

Backend active(const char* ip, uint16_t port = 8080) { return {*IpAddress::parse(ip), port, BackendState::Active}; }
Backend terminating(const char* ip, uint16_t port = 8080) {
  return {*IpAddress::parse(ip), port, BackendState::Terminating};
}

std::string show(const std::vector<Backend>& backends) {
  std::string out;
  for (const auto& b : backends)
    out += b.str() + (b.state == BackendState::Active ? "" : "(t)") + " ";
  return out;
}

struct Case {
  const char* what;
  std::vector<Candidate> candidates;
  bool local_only;
  NodeIdentity node;
  std::vector<Backend> expected;
};

void run(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    auto got = usable_backends(c.candidates, c.local_only, c.node);
    CAPTURE(show(got));
    CHECK(got == c.expected);
  }
}

const NodeIdentity kNodeA{"node-a", ""};
const NodeIdentity kZoneA{"node-a", "zone-a"};
const NodeIdentity kNodeDZoneA{"node-d", "zone-a"};
using Zones = std::vector<std::string>;

}  // namespace

TEST_CASE("ready endpoints first, serving+terminating ones only when none is ready") {
  run({
      {"ready ones, not-ready left out", {cand("10.0.0.2", kReady), cand("10.0.0.1", kReady), cand("10.0.0.3", kNotReady)},
       false, kNodeA, {active("10.0.0.1"), active("10.0.0.2")}},
      {"terminating ignored while one is ready", {cand("10.0.0.1", kTerminatingServing), cand("10.0.0.2", kReady)}, false,
       kNodeA, {active("10.0.0.2")}},
      {"fallback to serving+terminating", {cand("10.0.0.1", kTerminatingServing), cand("10.0.0.2", kNotReady),
       cand("10.0.0.3", kTerminatingServing)}, false, kNodeA, {terminating("10.0.0.1"), terminating("10.0.0.3")}},
      {"serving=false never used", {cand("10.0.0.1", kTerminatingNotServing), cand("10.0.0.2", kNotReady)}, false, kNodeA,
       {}},
      {"serving but not terminating is no fallback", {cand("10.0.0.1", kServingNotReady)}, false, kNodeA, {}},
      {"no candidates", {}, false, kNodeA, {}},
  });
}

TEST_CASE("internalTrafficPolicy Local: local endpoints only, never a fall back to remote ones") {
  run({
      {"local ready only", {cand("10.0.0.1", kReady, "node-a"), cand("10.0.0.2", kReady, "node-b")}, true, kNodeA,
       {active("10.0.0.1")}},
      {"no local endpoint: nothing", {cand("10.0.0.2", kReady, "node-b"), cand("10.0.0.3", kReady, "")}, true, kNodeA, {}},
      {"local not ready, remote ready: nothing", {cand("10.0.0.1", kNotReady, "node-a"), cand("10.0.0.2", kReady, "node-b")},
       true, kNodeA, {}},
      {"local terminating fallback, remote ready ignored",
       {cand("10.0.0.1", kTerminatingServing, "node-a"), cand("10.0.0.2", kReady, "node-b")}, true, kNodeA,
       {terminating("10.0.0.1")}},
      {"hints do not apply to Local",
       {cand("10.0.0.1", kReady, "node-a", Zones{"zone-b"}), cand("10.0.0.2", kReady, "node-a", Zones{"zone-a"})}, true,
       kZoneA, {active("10.0.0.1"), active("10.0.0.2")}},
      {"Cluster policy ignores nodes", {cand("10.0.0.1", kReady, "node-a"), cand("10.0.0.2", kReady, "node-b")}, false,
       kNodeA, {active("10.0.0.1"), active("10.0.0.2")}},
  });
}

TEST_CASE("topology hints are honoured only when every ready endpoint has them and one is for this zone") {
  run({
      {"all hinted, some here", {cand("10.0.0.1", kReady, "", Zones{"zone-a"}), cand("10.0.0.2", kReady, "", Zones{"zone-b"}),
       cand("10.0.0.3", kReady, "", Zones{"zone-b", "zone-a"})}, false, kZoneA, {active("10.0.0.1"), active("10.0.0.3")}},
      {"one ready endpoint without hints", {cand("10.0.0.1", kReady, "", Zones{"zone-a"}), cand("10.0.0.2", kReady)}, false,
       kZoneA, {active("10.0.0.1"), active("10.0.0.2")}},
      {"none for this zone", {cand("10.0.0.1", kReady, "", Zones{"zone-b"}), cand("10.0.0.2", kReady, "", Zones{"zone-c"})},
       false, kZoneA, {active("10.0.0.1"), active("10.0.0.2")}},
      {"node without a zone", {cand("10.0.0.1", kReady, "", Zones{"zone-a"}), cand("10.0.0.2", kReady, "", Zones{"zone-b"})},
       false, kNodeA, {active("10.0.0.1"), active("10.0.0.2")}},
      {"a not-ready endpoint without hints does not matter",
       {cand("10.0.0.1", kReady, "", Zones{"zone-a"}), cand("10.0.0.2", kReady, "", Zones{"zone-b"}), cand("10.0.0.3", kNotReady)},
       false, kZoneA, {active("10.0.0.1")}},
      {"a hint on a not-ready endpoint does not count as one for this zone",
       {cand("10.0.0.1", kReady, "", Zones{"zone-b"}), cand("10.0.0.2", kTerminatingServing, "", Zones{"zone-a"})}, false,
       kZoneA, {active("10.0.0.1")}},
      {"an empty forZones list is no hint",
       {cand("10.0.0.1", kReady, "", Zones{"zone-a"}), cand("10.0.0.2", kReady, "", Zones{})}, false, kZoneA,
       {active("10.0.0.1"), active("10.0.0.2")}},
  });
}

TEST_CASE("an address listed twice is used once; output is sorted") {
  run({
      {"same address and port twice", {cand("10.0.0.2", kReady), cand("10.0.0.1", kReady), cand("10.0.0.2", kReady)}, false,
       kNodeA, {active("10.0.0.1"), active("10.0.0.2")}},
      {"same address, two ports", {cand("10.0.0.1", kReady, "", std::nullopt, 81), cand("10.0.0.1", kReady, "", std::nullopt, 80)},
       false, kNodeA, {active("10.0.0.1", 80), active("10.0.0.1", 81)}},
      {"sorted by address then port", {cand("10.0.0.10", kReady), cand("10.0.0.9", kReady), cand("10.0.0.1", kReady)}, false,
       kNodeA, {active("10.0.0.1"), active("10.0.0.9"), active("10.0.0.10")}},
      {"IPv6", {cand("fd00::10", kReady), cand("fd00::9", kReady)}, false, kNodeA, {active("fd00::9"), active("fd00::10")}},
  });
}

TEST_CASE("node hints (PreferSameNode) first, then zone hints, then all, as topologyModeFromHints decides") {
  const Names a{{"node-a"}}, b{{"node-b"}}, za{{"zone-a"}}, zb{{"zone-b"}};
  run({
      {"every ready endpoint has node hints, some for this node",
       {hinted("10.0.0.1", kReady, a, za), hinted("10.0.0.2", kReady, b, za), hinted("10.0.0.3", kReady, b, zb)}, false,
       kZoneA, {active("10.0.0.1")}},
      {"node hints are used without a zone", {hinted("10.0.0.1", kReady, a, za), hinted("10.0.0.2", kReady, b, za)}, false,
       kNodeA, {active("10.0.0.1")}},
      {"an endpoint for several nodes", {hinted("10.0.0.1", kReady, Names{{"node-b", "node-a"}}, za),
       hinted("10.0.0.2", kReady, b, za)}, false, kNodeA, {active("10.0.0.1")}},
      {"none for this node: zone hints decide",
       {hinted("10.0.0.1", kReady, a, za), hinted("10.0.0.2", kReady, b, za), hinted("10.0.0.3", kReady, b, zb)}, false,
       kNodeDZoneA, {active("10.0.0.1"), active("10.0.0.2")}},
      {"none for this node, none for this zone: all",
       {hinted("10.0.0.1", kReady, a, zb), hinted("10.0.0.2", kReady, b, zb)}, false, kNodeDZoneA,
       {active("10.0.0.1"), active("10.0.0.2")}},
      {"none for this node, no zone hints: all", {hinted("10.0.0.1", kReady, a, {}), hinted("10.0.0.2", kReady, b, {})},
       false, kNodeDZoneA, {active("10.0.0.1"), active("10.0.0.2")}},
      {"a ready endpoint without node hints: zone hints decide",
       {hinted("10.0.0.1", kReady, a, za), hinted("10.0.0.2", kReady, {}, zb), hinted("10.0.0.3", kReady, b, za)}, false,
       kZoneA, {active("10.0.0.1"), active("10.0.0.3")}},
      {"an empty forNodes list is no node hint",
       {hinted("10.0.0.1", kReady, a, {}), hinted("10.0.0.2", kReady, Names{std::vector<std::string>{}}, {})}, false,
       kNodeA, {active("10.0.0.1"), active("10.0.0.2")}},
      {"a not-ready endpoint without node hints does not matter",
       {hinted("10.0.0.1", kReady, a, {}), hinted("10.0.0.2", kReady, b, {}), hinted("10.0.0.3", kNotReady, {}, {})},
       false, kNodeA, {active("10.0.0.1")}},
      {"a node hint on a not-ready endpoint is none for this node",
       {hinted("10.0.0.1", kReady, b, {}), hinted("10.0.0.2", kTerminatingServing, a, {})}, false, kNodeA,
       {active("10.0.0.1")}},
      {"no ready endpoint: hints ignored, every serving terminating one",
       {hinted("10.0.0.1", kTerminatingServing, a, za), hinted("10.0.0.2", kTerminatingServing, b, zb)}, false, kZoneA,
       {terminating("10.0.0.1"), terminating("10.0.0.2")}},
      {"internalTrafficPolicy Local ignores node hints: nodeName decides",
       {hinted("10.0.0.1", kReady, a, {}, "node-b"), hinted("10.0.0.2", kReady, b, {}, "node-a")}, true, kNodeA,
       {active("10.0.0.2")}},
  });
}
