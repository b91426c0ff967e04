// Reliability under faults, counted: clients connect all the time while the
// agent is killed and restarted, and while a service's pods roll over. Every
// failed connect is a failure of the test. docs/reliability.md lists these.

#include <doctest/doctest.h>
#include <signal.h>

#include <map>
#include <random>
#include <set>
#include <algorithm>
#include <thread>

#include "expectations.h"
#include "manifests.h"

using namespace kt;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Clients connecting to one address for a bounded time, each a separate
// process (two "client threads" of an application, as the kernel sees them).
class ClientLoad {
 public:
  ClientLoad(const Testbed& node, const std::string& to, int clients, std::chrono::milliseconds duration) {
    for (int i = 0; i < clients; ++i)
      clients_.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
          SOCKLB_PROBE_BIN, "--netns", node.netns(), "--cgroup", node.cgroup().string(), "connect", "--to", to,
          "--count", "1000000", "--interval-ms", "1", "--timeout-ms", "1000", "--duration-ms",
          std::to_string(duration.count())}));
  }

  std::vector<Attempt> finish() {
    std::vector<Attempt> all;
    for (auto& client : clients_) {
      REQUIRE(client->wait() == 0);
      auto attempts = parse_attempts(client->lines());
      all.insert(all.end(), attempts.begin(), attempts.end());
    }
    return all;
  }

 private:
  std::vector<std::unique_ptr<ChildProcess>> clients_;
};

std::string failures(const std::vector<Attempt>& attempts) {
  std::map<std::string, int> errors;
  for (const auto& a : attempts)
    if (!a.ok) errors[a.error]++;
  std::string out;
  for (const auto& [error, n] : errors) out += error + " x" + std::to_string(n) + "; ";
  return out;
}

int count_failed(const std::vector<Attempt>& attempts) {
  return static_cast<int>(attempts.size()) - count_ok(attempts);
}

}  // namespace

TEST_CASE("reliability: SIGKILL and restart 5 times under 2 clients: 0 failed connects, nothing leaked") {
  Testbed node;
  const std::vector<std::string> pod_ips = {"10.244.1.10", "10.244.1.11", "10.244.1.12"};
  node.serve({pod_ips[0] + ":8080", pod_ips[1] + ":8080", pod_ips[2] + ":8080"});
  // round r serves pods r and r+1 (mod 3): every restart has a change to catch up on
  auto manifests_for = [&](int round) {
    std::string a = pod_ips[round % 3], b = pod_ips[(round + 1) % 3];
    return service("web", "10.96.0.10", kHttpPort) + pod({"web-" + a, a}) + pod({"web-" + b, b});
  };
  node.write_manifest("web.yaml", manifests_for(0));
  node.start_agent();

  constexpr int kRestarts = 5;
  std::mt19937 random(std::random_device{}());
  ClientLoad load(node, "10.96.0.10:80", 2, 12s);
  std::this_thread::sleep_for(300ms);
  auto first_kill = Clock::now();
  for (int round = 1; round <= kRestarts; ++round) {
    CAPTURE(round);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + random() % 300));
    node.kill_agent(SIGKILL);
    node.write_manifest("web.yaml", manifests_for(round));  // a change made while the agent is down
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 200));
    node.start_agent();

    // the change was caught up, by adopting the maps rather than rebuilding them
    auto counts = count_by_backend(node.connect("10.96.0.10:80", {.count = 30}));
    std::string gone = pod_ips[(round + 2) % 3] + ":8080";
    CHECK_MESSAGE(counts.count(gone) == 0, describe(node.connect("10.96.0.10:80", {.count = 30})));
    CHECK(counts[pod_ips[round % 3] + ":8080"] + counts[pod_ips[(round + 1) % 3] + ":8080"] == 30);
    CHECK(map_entries(node, "services_v4") == 1);
    CHECK(map_entries(node, "vips_v4") == 1);
    CHECK(map_entries(node, "service_names") == 1);
    CHECK(map_entries(node, "slots") == 2);
    CHECK(map_entries(node, "backends") == 2);
  }
  auto last_restart = Clock::now();

  auto attempts = load.finish();
  MESSAGE(attempts.size(), " connects by 2 clients through ", kRestarts, " SIGKILL+restarts; failed: ", count_failed(attempts));
  CHECK_MESSAGE(count_failed(attempts) == 0, failures(attempts));
  REQUIRE(!attempts.empty());
  // the load really spanned every kill and restart
  auto [first, last] = std::minmax_element(attempts.begin(), attempts.end(),
                                           [](const Attempt& a, const Attempt& b) { return a.started < b.started; });
  CHECK(first->started < first_kill);
  CHECK(last->started > last_restart);
}

TEST_CASE("reliability: rolling update, a pod replaced every 300 ms (a step every 100 ms) for 30 s under 2 clients") {
  // Each replacement is three steps 100 ms apart, as a Deployment rollout
  // does it: a new pod added ready, the oldest marked terminating, then removed.
  constexpr int kReplacements = 100;
  Testbed node;
  std::vector<std::string> servers;
  auto ip_of = [](int generation) { return "10.244.2." + std::to_string(generation + 1); };
  for (int g = 0; g < kReplacements + 2; ++g) servers.push_back(ip_of(g) + ":8080");
  node.serve(servers);

  std::vector<PodSpec> live = {{"web-0", ip_of(0)}, {"web-1", ip_of(1)}};
  auto manifests = [&] {
    std::string out = service("web", "10.96.0.10", kHttpPort);
    for (const auto& p : live) out += pod(p);
    return out;
  };
  node.write_manifest("web.yaml", manifests());
  node.start_agent();

  // when the test saw the sync logged that took a pod out of use
  std::map<std::string, Clock::time_point> drained, removed;
  ClientLoad load(node, "10.96.0.10:80", 2, 31s);
  auto tick = Clock::now();
  auto step = [&] {
    node.apply("web.yaml", manifests());
    auto seen = Clock::now();
    tick += 100ms;
    std::this_thread::sleep_until(tick);
    return seen;
  };
  for (int g = 2; g < kReplacements + 2; ++g) {
    live.push_back({"web-" + std::to_string(g), ip_of(g)});
    step();
    std::string oldest = live.front().ip + ":8080";
    live.front().terminating = true;
    drained[oldest] = step();  // a ready pod exists: the terminating one gets no new connects
    live.erase(live.begin());
    removed[oldest] = step();
  }
  auto attempts = load.finish();

  int late_to_drained = 0, late_to_removed = 0;
  std::set<std::string> reached;
  for (const auto& a : attempts) {
    if (!a.ok) continue;
    reached.insert(a.backend);
    if (auto it = drained.find(a.backend); it != drained.end() && a.started > it->second) late_to_drained++;
    if (auto it = removed.find(a.backend); it != removed.end() && a.started > it->second) late_to_removed++;
  }
  MESSAGE(attempts.size(), " connects by 2 clients during ", kReplacements, " pod replacements (", 3 * kReplacements,
          " manifest writes); failed: ", count_failed(attempts), ", to a terminating pod after its sync: ", late_to_drained,
          ", to a removed pod after its sync: ", late_to_removed, ", pods reached: ", reached.size());
  CHECK_MESSAGE(count_failed(attempts) == 0, failures(attempts));
  CHECK(late_to_removed == 0);
  CHECK(late_to_drained == 0);
  // the load followed the rollout rather than sitting on one pod
  CHECK(reached.size() >= kReplacements);
  CHECK(attempts.size() >= 2000);
}
