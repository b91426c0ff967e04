// The datapath's correctness under the conditions that used to break it:
// services rewritten while connects run, pods that turn terminating or leave
// this node's usable set while connections use them, one UDP socket talking
// to many ClusterIPs, and clients that try to push others' affinity out.
// docs/reliability.md lists the counts these tests print.

#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "agent/syncer.h"
#include "kernel/layout_pin.h"
#include "kernel/pinned_maps.h"
#include "expectations.h"
#include "manifests.h"
#include "manifests/manifest_reader.h"

using namespace kt;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

std::string pod_ip(const std::string& endpoint) { return endpoint.substr(0, endpoint.rfind(':')); }

std::string describe_counts(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [backend, n] : counts) out += backend + " x" + std::to_string(n) + "; ";
  return out;
}

// A Service with an EndpointSlice listing exactly these endpoints ("IP" on
// the target port); each ready unless given other conditions. Odd last
// digits are on node-a (the testbed's node), even ones on node-b.
std::string sliced_service(const std::string& name, const std::string& vip, const std::vector<std::string>& ips,
                           const std::map<std::string, std::string>& conditions = {}, const std::string& extra_spec = "",
                           const std::string& protocol = "TCP", int port = 80, int target = 8080) {
  std::string out = "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name + "}\nspec:\n  clusterIP: " + vip +
                    "\n  ports: [{name: p, port: " + std::to_string(port) + ", targetPort: " + std::to_string(target) +
                    ", protocol: " + protocol + "}]\n" + extra_spec +
                    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
                    "-1, labels: {kubernetes.io/service-name: " + name + "}}\naddressType: IPv4\nports: [{name: p, port: " +
                    std::to_string(target) + ", protocol: " + protocol + "}]\nendpoints:\n";
  for (const auto& ip : ips) {
    auto c = conditions.find(ip);
    out += "- addresses: [" + ip + "]\n  nodeName: " + (ip.back() % 2 ? "node-a" : "node-b") + "\n  conditions: " +
           (c == conditions.end() ? "{ready: true}" : c->second) + "\n";
  }
  return out;
}

const std::string kTerminating = "{ready: false, serving: true, terminating: true}";
const std::string kNotReady = "{ready: false, serving: false, terminating: false}";

// Reads a manifest directory once, as the agent's reader does.
socklb::ManifestSet read_manifests(const fs::path& dir, const std::string& yaml) {
  fs::create_directories(dir);
  std::ofstream(dir / "all.yaml") << yaml;
  return socklb::ManifestReader().read(dir);
}

}  // namespace

TEST_CASE("services rewritten in a tight loop: no connect reaches another service's pods, none is refused") {
  // Two groups of services, each with its own pods, whose backends flip every
  // sync, and a third group that comes and goes: service entries, slot sets,
  // backends and ids are rewritten and reused as fast as the agent's own
  // writing code can, while two clients connect to the first two groups.
  constexpr int kPerGroup = 16;
  Testbed node;
  std::vector<std::string> servers;
  for (int g = 0; g < 3; ++g)
    for (int p = 1; p <= 4; ++p) servers.push_back("10.244." + std::to_string(20 + g) + "." + std::to_string(p) + ":8080");
  node.serve(servers);
  auto vip = [](int group, int i) { return "10.96." + std::to_string(20 + group) + "." + std::to_string(i + 1); };
  auto generation = [&](int parity) {
    std::string yaml;
    for (int g = 0; g < 3; ++g) {
      if (g == 2 && parity) continue;  // the third group comes and goes
      std::string net = "10.244." + std::to_string(20 + g) + ".";
      std::vector<std::string> pods = parity ? std::vector<std::string>{net + "1", net + "2"}
                                             : std::vector<std::string>{net + "3", net + "4"};
      for (int i = 0; i < kPerGroup; ++i) yaml += sliced_service("g" + std::to_string(g) + "-" + std::to_string(i), vip(g, i), pods);
    }
    return yaml;
  };
  node.write_manifest("all.yaml", generation(0));
  node.start_agent();
  node.kill_agent(SIGTERM);  // the datapath stays pinned; this test is the only writer now

  socklb::ManifestSet generations[2] = {read_manifests(node.manifests() / "gen0", generation(0)),
                                        read_manifests(node.manifests() / "gen1", generation(1))};
  auto maps = socklb::PinnedMaps::open(node.bpffs(), false);
  socklb::ReconcileSettings settings;
  settings.node = {"node-a", ""};
  settings.service_cidrs = socklb::default_service_cidrs();
  socklb::Syncer syncer(*maps, settings);

  std::vector<std::unique_ptr<ChildProcess>> clients;
  for (int group = 0; group < 2; ++group) {
    std::vector<std::string> to;
    for (int i = 0; i < kPerGroup; ++i) to.push_back(vip(group, i) + ":80");
    auto argv = node.probe_connect_argv(to, {.count = 1000000, .timeout_ms = 1000});
    argv.insert(argv.end(), {"--duration-ms", "6000"});
    clients.push_back(std::make_unique<ChildProcess>(argv));
  }
  int syncs = 0;
  for (auto end = Clock::now() + 6s; Clock::now() < end; ++syncs) syncer.sync(generations[syncs % 2]);

  int total = 0, foreign = 0, refused = 0, other_failures = 0;
  std::map<std::string, int> errors;
  for (int group = 0; group < 2; ++group) {
    REQUIRE(clients[group]->wait() == 0);
    std::string own = "10.244." + std::to_string(20 + group) + ".";
    for (const auto& a : parse_attempts(clients[group]->lines())) {
      ++total;
      if (!a.ok) {
        ++errors[a.error];
        (a.error == "ECONNREFUSED" ? refused : other_failures)++;
      } else if (a.backend.rfind(own, 0) != 0) {
        ++foreign;
      }
    }
  }
  MESSAGE(total, " connects by 2 clients to ", 2 * kPerGroup, " ClusterIPs while the agent's syncer rewrote ",
          3 * kPerGroup, " services ", syncs, " times: to another service's pod: ", foreign, ", refused: ", refused,
          ", other failures: ", other_failures);
  CHECK(foreign == 0);
  CHECK(refused == 0);
  CHECK(other_failures == 0);
  CHECK(syncs >= 100);
  CHECK(total >= 2000);
}

TEST_CASE("a pod that turns terminating, or leaves this node's usable set, keeps its connections; a removed one loses them") {
  Testbed node;
  const std::string pod0 = "10.244.30.1", pod1 = "10.244.30.2";  // node-a (this node) and node-b
  node.serve({pod0 + ":8080", pod1 + ":8080"}, {pod0 + ":8080", pod1 + ":8080"}, true);
  bool started = false;
  auto write = [&](const std::vector<std::string>& listed, const std::map<std::string, std::string>& conditions,
                   const std::string& extra = "") {
    std::string yaml = sliced_service("web", "10.96.30.1", listed, conditions, extra) +
                       sliced_service("dns", "10.96.30.2", listed, conditions, extra, "UDP", 53, 8080);
    if (started) node.apply("web.yaml", yaml);  // and wait for the sync that applies it
    else node.write_manifest("web.yaml", yaml);
  };
  // Held connections (TCP, and connected UDP as a resolver's) asking every 20 ms.
  std::vector<std::unique_ptr<ChildProcess>> on_pod0, on_pod1;
  auto start_clients = [&](std::vector<std::unique_ptr<ChildProcess>>& into) {
    for (const char* proto : {"tcp", "udp"})
      for (int i = 0; i < 3; ++i) {
        auto argv = node.probe_connect_argv({std::string(proto) == "tcp" ? "10.96.30.1:80" : "10.96.30.2:53"},
                                            {.proto = proto, .count = 100000, .reuse_socket = true, .interval_ms = 20,
                                             .timeout_ms = 1000});
        argv.insert(argv.end(), {"--duration-ms", "7000"});
        into.push_back(std::make_unique<ChildProcess>(argv));
      }
  };

  write({pod0, pod1}, {{pod1, kNotReady}});  // only pod 0 is ready: the first clients get it
  node.start_agent();
  started = true;
  start_clients(on_pod0);
  std::this_thread::sleep_for(1s);
  write({pod0, pod1}, {{pod0, kTerminating}});  // a rollout step: pod 1 ready, pod 0 terminating
  start_clients(on_pod1);
  std::this_thread::sleep_for(1500ms);
  write({pod0, pod1}, {}, "  internalTrafficPolicy: Local\n");  // this node uses only pod 0 now
  auto local_since = Clock::now();
  std::this_thread::sleep_for(1500ms);
  // Pod 1 is deleted. Its sockets are closed after the sync that removes it:
  // a request made meanwhile may still reach pod 1 or fail on its closing
  // socket, so "before" ends when the change is written, "after" starts when
  // the agent says it closed them (sockets_closed), and neither counts what
  // lies between.
  std::size_t lines_before = node.agent().lines().size();
  auto removing_at = Clock::now();
  write({pod0}, {}, "  internalTrafficPolicy: Local\n");
  int closed = wait_for_event(node.agent(), "sockets_closed", lines_before, 5s);
  REQUIRE_MESSAGE(closed >= 0, node.agent().output());
  CHECK(agent_event(node.agent().lines()[closed])->value("count", 0) == 6);
  auto closed_at = Clock::now();

  struct Count {
    int ok = 0, failed = 0;
    std::set<std::string> pods;
  };
  auto tally = [&](std::vector<std::unique_ptr<ChildProcess>>& clients, Count& before, Count& after, int& kept_after_local) {
    for (auto& client : clients) {
      REQUIRE(client->wait() == 0);
      for (const auto& a : parse_attempts(client->lines())) {
        if (a.started >= removing_at && a.started < closed_at) continue;  // while pod 1 was being removed
        Count& c = a.started < removing_at ? before : after;
        if (!a.ok) {
          ++c.failed;
          continue;
        }
        ++c.ok;
        c.pods.insert(pod_ip(a.backend));
        kept_after_local += a.started > local_since && a.started < removing_at && pod_ip(a.backend) == pod1;
      }
    }
  };
  Count pod0_before, pod0_after, pod1_before, pod1_after;
  int unused = 0, pod1_kept_after_local = 0;
  tally(on_pod0, pod0_before, pod0_after, unused);
  tally(on_pod1, pod1_before, pod1_after, pod1_kept_after_local);
  MESSAGE("held TCP and connected UDP sockets: on pod 0 while it was terminating, then the only local pod: ",
          pod0_before.ok + pod0_after.ok, " requests, ", pod0_before.failed + pod0_after.failed,
          " failed; on pod 1 while it was left out by internalTrafficPolicy: ", pod1_kept_after_local,
          " requests, ", pod1_before.failed, " failed; after pod 1 was deleted: ", pod1_after.failed,
          " failed (the requests in flight), answered by pod 1: ",
          pod1_after.pods.count(pod1) ? "some" : "none");
  CHECK(pod0_before.pods == std::set<std::string>{pod0});
  CHECK(pod0_before.failed + pod0_after.failed == 0);  // terminating: its connections stay
  CHECK(pod1_before.pods == std::set<std::string>{pod1});
  CHECK(pod1_before.failed == 0);           // left out by internalTrafficPolicy: its connections stay
  CHECK(pod1_kept_after_local >= 6 * 20);   // and were used meanwhile
  CHECK(pod1_after.pods == std::set<std::string>{pod0});  // deleted: its connections were closed and reopened
  CHECK(pod1_after.failed <= 6);            // one request per socket at most, on its closed socket
}

TEST_CASE("UDP: one socket talking to 8 ClusterIPs gets every reply from the one it asked, and keeps each pod") {
  Testbed node;
  std::vector<std::string> servers, to;
  std::string yaml;
  for (int s = 1; s <= 8; ++s) {
    std::string net = "10.244.31." + std::to_string(10 * s);
    std::vector<std::string> ips = {net.substr(0, net.size() - 1) + "1", net.substr(0, net.size() - 1) + "2"};
    for (const auto& ip : ips) servers.push_back(ip + ":5353");
    std::string vip = "10.96.31." + std::to_string(s);
    yaml += sliced_service("dns-" + std::to_string(s), vip, ips, {}, "", "UDP", 53, 5353);
    to.push_back(vip + ":53");
  }
  node.serve({}, servers);
  node.write_manifest("dns.yaml", yaml);
  node.start_agent();

  int wrong_source = 0, moved = 0, failed = 0, replies = 0;
  for (int socket = 0; socket < 10; ++socket) {
    auto attempts = node.connect(to, {.proto = "udp-unconnected", .count = 40, .reuse_socket = true});
    std::map<std::string, std::string> pod_of;  // ClusterIP -> the pod that answered first
    for (const auto& a : attempts) {
      if (!a.ok) {
        ++failed;
        continue;
      }
      ++replies;
      wrong_source += a.peer != a.to;
      auto [it, first] = pod_of.emplace(a.to, a.backend);
      moved += !first && it->second != a.backend;
    }
  }
  MESSAGE(replies, " replies to 10 unconnected sockets, each asking 8 ClusterIPs in turn: from another source than the "
          "ClusterIP asked: ", wrong_source, ", from another pod than that ClusterIP's first: ", moved, ", failed: ", failed);
  CHECK(wrong_source == 0);
  CHECK(moved == 0);
  CHECK(failed == 0);
  CHECK(replies == 400);
}

TEST_CASE("UDP: two ClusterIPs served by the same pods; one socket gets each reply from the ClusterIP it asked") {
  Testbed node;
  node.serve({}, {"10.244.32.1:5353", "10.244.32.2:5353"});
  node.write_manifest("dns.yaml", sliced_service("dns-a", "10.96.32.1", {"10.244.32.1", "10.244.32.2"}, {}, "", "UDP", 53, 5353) +
                                      sliced_service("dns-b", "10.96.32.2", {"10.244.32.1", "10.244.32.2"}, {}, "", "UDP", 53, 5353));
  node.start_agent();
  int wrong_source = 0, same_pod = 0;
  for (int socket = 0; socket < 10; ++socket) {
    auto attempts = node.connect(std::vector<std::string>{"10.96.32.1:53", "10.96.32.2:53"}, {.proto = "udp-unconnected", .count = 20, .reuse_socket = true});
    std::set<std::string> pods;
    for (const auto& a : attempts) {
      REQUIRE(a.ok);
      wrong_source += a.peer != a.to;
      pods.insert(a.backend);
    }
    same_pod += pods.size() != 2;  // each ClusterIP got its own pod, so replies tell them apart
  }
  MESSAGE("10 sockets asking two ClusterIPs of the same two pods: replies from the wrong ClusterIP: ", wrong_source,
          ", sockets whose two flows share a pod: ", same_pod);
  CHECK(wrong_source == 0);
  CHECK(same_pod == 0);
}

TEST_CASE("TCP getpeername: the ClusterIP dialled (also when two services share the pods), the pod when dialled directly") {
  Testbed node;
  node.serve({"10.244.33.1:8080", "10.244.33.2:8080"});
  node.write_manifest("web.yaml", sliced_service("web", "10.96.33.1", {"10.244.33.1"}) +
                                      sliced_service("a", "10.96.33.2", {"10.244.33.2"}) +
                                      sliced_service("b", "10.96.33.3", {"10.244.33.2"}));
  node.start_agent();
  for (const auto& a : node.connect("10.96.33.1:80", {.count = 10})) CHECK(a.peer == "10.96.33.1:80");
  for (const auto& a : node.connect("10.96.33.2:80", {.count = 10})) CHECK(a.peer == "10.96.33.2:80");
  for (const auto& a : node.connect("10.96.33.3:80", {.count = 10})) CHECK(a.peer == "10.96.33.3:80");
  for (const auto& a : node.connect("10.244.33.1:8080", {.count = 10})) {
    CHECK(a.ok);
    CHECK(a.peer == "10.244.33.1:8080");
  }
  // the common connect keeps no state of its own: the reverse map answers
  CHECK(map_entries(node, "reverse") == 1);  // 10.244.33.1:8080; the shared pod has none
}

TEST_CASE("session affinity: 1000 clients from fresh network namespaces cannot push another client's affinity out") {
  Testbed node;
  node.serve({"10.244.34.1:8080", "10.244.34.2:8080", "10.244.34.3:8080"});
  node.write_manifest("web.yaml", sliced_service("web", "10.96.34.1", {"10.244.34.1", "10.244.34.2", "10.244.34.3"}, {},
                                                 "  sessionAffinity: ClientIP\n"));
  node.start_agent({"--max-affinity", "8"});

  auto first = count_by_backend(node.connect("10.96.34.1:80", {.count = 20}));
  REQUIRE(first.size() == 1);
  std::string mine = first.begin()->first;
  auto affinity_keys = [&] {
    std::set<std::string> keys;
    for (const auto& entry : nlohmann::json::parse(sh("bpftool -j map dump pinned " + (node.bpffs() / "affinity").string())))
      keys.insert(entry["key"].dump());
    return keys;
  };
  auto before = affinity_keys();
  REQUIRE(before.size() == 1);  // the first client's: its network namespace and the service

  // two connects from each of 1000 network namespaces of their own (each a
  // new client as the programs see it; the second makes its entry a used
  // one, as the first client's); they fail (nothing routes there) after the hook ran
  auto r = run_command({SOCKLB_PROBE_BIN, "--cgroup", node.cgroup().string(), "connect", "--to", "10.96.34.1:80",
                        "--fresh-netns", "2", "--count", "2000", "--timeout-ms", "100"});
  REQUIRE(r.code == 0);
  std::size_t entries = map_entries(node, "affinity");
  bool kept = affinity_keys().count(*before.begin()) > 0;
  auto later = count_by_backend(node.connect("10.96.34.1:80", {.count = 20}));
  MESSAGE("after 1000 clients from fresh network namespaces (affinity map of 8 entries): entries ", entries,
          "; the first client's entry ", std::string(kept ? "kept" : "evicted"), "; its next 20 connects: ", describe_counts(later),
          "(before: ", mine, ")");
  CHECK(entries == 8);
  CHECK(kept);
  CHECK(later.size() == 1);
  CHECK(later.begin()->first == mine);
}

TEST_CASE("only socklb's own maps, links and layout record are pinned") {
  Testbed node;
  node.serve({"10.244.35.1:8080"});
  node.write_manifest("web.yaml", sliced_service("web", "10.96.35.1", {"10.244.35.1"}));
  node.start_agent();
  std::set<std::string> pins, allowed = {std::string(socklb::kSockStateMapName), std::string(socklb::kTraceCtlMapName),
                                        std::string(socklb::kTraceEventsMapName), std::string(socklb::kLayoutPinName)};
  for (const auto& m : socklb::kMaps) allowed.insert(std::string(m.name));
  for (const auto& entry : fs::directory_iterator(node.bpffs())) pins.insert(entry.path().filename());
  int links = 0;
  for (const auto& pin : pins) {
    bool link = pin.rfind("link_", 0) == 0;
    links += link;
    CHECK_MESSAGE((link || allowed.count(pin)), pin, " is pinned but is not one of socklb's maps nor its layout record");
  }
  CHECK(links == 9);  // connect, sendmsg, recvmsg, getpeername (x2 families) and sock_release
  CHECK(pins.size() == allowed.size() + 9);
}
