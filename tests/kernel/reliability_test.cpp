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

#include "maps/kernel_state.h"
#include "kernel/pinned_maps.h"
#include "client_load.h"
#include "expectations.h"
#include "manifests.h"
#include "served.h"

using namespace kt;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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
  ClientLoad load(node, "10.96.0.10:80", 2, 600s);  // stopped after the last restart
  load.wait_until_connecting();
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
    CHECK(map_entries(node, "service_state") == 1);
    CHECK(map_entries(node, "addrs_v4") == 3);  // the ClusterIP and its two pods
    CHECK(map_entries(node, "reverse") == 2);
    CHECK(map_entries(node, "service_names") == 1);
    CHECK(map_entries(node, "slots") == 0);  // two backends: kept in the service's state entry
    CHECK(map_entries(node, "backends") == 2);
  }
  auto last_restart = Clock::now();
  std::this_thread::sleep_for(300ms);
  load.stop();

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
  // until the rollout is done, however long this machine takes for it (the cap only bounds a hung test)
  ClientLoad load(node, "10.96.0.10:80", 2, 600s);
  load.wait_until_connecting();
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
  load.stop();
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

namespace {

// One of the 10k services of the crash test: the old and the new generation
// differ in which services exist and in every service's backends.
struct Generation {
  int first_service;
  std::vector<std::string> backends;  // "10.244.3.1:8080"
};
constexpr int kCrashServices = 10000;
using LiveAddresses = std::map<socklb::ServiceKey, std::optional<std::set<std::string>>>;
constexpr int kServicesPerFile = 1000;

std::string crash_vip(int i) { return "10.100." + std::to_string(i / 256) + "." + std::to_string(i % 256); }

std::string crash_file(const Generation& gen, int file) {
  std::string out;
  for (int i = gen.first_service + file * kServicesPerFile; i < gen.first_service + (file + 1) * kServicesPerFile; ++i) {
    std::string name = "svc-" + std::to_string(i);
    out += "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name + "}\nspec: {clusterIP: " + crash_vip(i) +
           ", ports: [{name: http, port: 80}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
           "metadata: {name: " + name + "-1, labels: {kubernetes.io/service-name: " + name +
           "}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n";
    for (const auto& b : gen.backends) out += "- addresses: [" + b.substr(0, b.find(':')) + "]\n";
  }
  return out;
}

// What the kernel serves for VIP:80/TCP (decoded once per state by
// live_addresses()): nullopt when the entries are inconsistent (a connect
// could fail), an empty set when not served at all.
std::optional<std::set<std::string>> served(const LiveAddresses& state, const std::string& vip) {
  auto it = state.find(socklb::ServiceKey{*socklb::IpAddress::parse(vip), 80, socklb::Protocol::TCP});
  return it == state.end() ? std::set<std::string>{} : it->second;
}

}  // namespace

TEST_CASE("reliability: SIGKILL at random points of a 10k-service sync; every VIP serves its old or new state") {
  Testbed node;
  const Generation old_gen{0, {"10.244.3.1:8080", "10.244.3.2:8080"}};
  const Generation new_gen{kServicesPerFile, {"10.244.3.3:8080", "10.244.3.4:8080"}};
  node.serve({"10.244.3.1:8080", "10.244.3.2:8080", "10.244.3.3:8080", "10.244.3.4:8080"});
  auto write_generation = [&](const Generation& gen) {
    for (int f = 0; f < kCrashServices / kServicesPerFile; ++f)
      node.write_manifest("services-" + std::to_string(f) + ".yaml", crash_file(gen, f));
  };
  std::set<std::string> old_set(old_gen.backends.begin(), old_gen.backends.end());
  std::set<std::string> new_set(new_gen.backends.begin(), new_gen.backends.end());

  // An agent on this node; with a phase, one that stops itself just before
  // that apply phase of its sync (SOCKLB_FAULT, docs/events.md), so that half
  // the kills land inside a known phase of the writes (the rest anywhere from
  // exec to the end).
  auto start_agent = [&](int pause_before_phase = 0) {
    std::vector<std::string> argv = node.agent_argv();
    if (pause_before_phase)
      argv.insert(argv.begin(), {"/usr/bin/env", "SOCKLB_FAULT=pause-before-phase:" + std::to_string(pause_before_phase)});
    return std::make_unique<ChildProcess>(argv);
  };

  write_generation(old_gen);
  auto start = Clock::now();
  auto first = start_agent();
  int sync_line = wait_for_event(*first, "sync", 0, 60s);
  REQUIRE(sync_line >= 0);
  auto whole = Clock::now() - start;
  // the agent's own measure of its map writes (apply phases 1 to 4)
  auto writes = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(agent_event(first->lines()[sync_line])->at("apply_ms").get<double>()));
  using us = std::chrono::microseconds;
  MESSAGE("a cold start with ", kCrashServices, " services took ", std::chrono::duration_cast<us>(whole).count() / 1000,
          " ms, of which writing the maps ", std::chrono::duration_cast<us>(writes).count() / 1000, " ms");
  first->signal(SIGKILL);
  first->wait();

  std::mt19937 random(std::random_device{}());
  int kills = 0, mixed_states = 0, broken = 0, checked = 0;
  const Generation* target = &old_gen;
  const Generation* served_gen = &old_gen;  // the cold start serves the old generation
  for (int round = 0; round < 8; ++round) {
    CAPTURE(round);
    // the generation the maps do not serve: a kill before the first write of
    // a sync leaves them exactly as they were, and a sync towards what is
    // already served plans nothing and never reaches the fault point
    target = served_gen == &old_gen ? &new_gen : &old_gen;
    write_generation(*target);
    // rounds 0-3: within 1/4 of the writes' time after the start of phase
    // 1..4 (see apply_plan.cpp); rounds 4-7: anywhere from exec to the end
    int phase = round < 4 ? round + 1 : 0;
    auto agent = start_agent(phase);
    auto window = std::chrono::duration_cast<us>(phase ? writes / 4 : whole).count();
    auto delay = us(random() % std::max<int64_t>(window, 1));
    if (phase) {
      // stopped just before the phase: let it run, and kill it `delay` into it
      // the agent's own words, should it never stop there
      REQUIRE_MESSAGE(wait_for_event(*agent, "fault_point", 0, 60s) >= 0, agent->output());
      REQUIRE(wait_until_stopped(agent->pid(), 10s));
      agent->signal(SIGCONT);
    }
    std::this_thread::sleep_for(delay);
    agent->signal(SIGKILL);
    agent->wait();
    kills++;

    auto maps = socklb::PinnedMaps::open(node.bpffs(), true);
    auto state = socklb::test::live_addresses(socklb::read_kernel_state(*maps));
    int as_old = 0, as_new = 0;
    for (int i = 0; i < kCrashServices + kServicesPerFile; ++i) {
      auto now = served(state, crash_vip(i));
      bool in_old = i < kCrashServices, in_new = i >= kServicesPerFile;
      checked++;
      // a service only one generation has is absent in the other's state
      bool is_old = now && (in_old ? *now == old_set : now->empty());
      bool is_new = now && (in_new ? *now == new_set : now->empty());
      if (!is_old && !is_new) {
        broken++;
        if (broken < 5) MESSAGE("VIP ", crash_vip(i), " is served broken after the kill at ", delay.count(), " us");
        continue;
      }
      as_old += is_old && !is_new;
      as_new += is_new && !is_old;
    }
    if (as_old && as_new) mixed_states++;
    served_gen = as_new > as_old ? &new_gen : &old_gen;  // each generation has 1,000 services the other lacks
    MESSAGE("kill ", kills, (phase ? " in phase " + std::to_string(phase) : std::string(" anywhere")), " at +", delay.count(), " us: ", as_old, " services old, ", as_new, " new");
    // and a sample of real connects agrees
    for (int n = 0; n < 5; ++n) {
      int i = kServicesPerFile + random() % (kCrashServices - kServicesPerFile);
      auto attempt = node.connect(crash_vip(i) + ":80")[0];
      CHECK_MESSAGE(attempt.ok, crash_vip(i), ": ", attempt.error);
    }
  }
  MESSAGE(kills, " kills during a ", kCrashServices, "-service sync, ", mixed_states,
          " left a mix of old and new services; VIP states checked: ", checked, ", broken: ", broken);
  CHECK(broken == 0);

  // the next start converges to exactly the manifests
  node.start_agent();
  auto state = socklb::test::live_addresses(socklb::read_kernel_state(*socklb::PinnedMaps::open(node.bpffs(), true)));
  const std::set<std::string>& want = target == &old_gen ? old_set : new_set;
  int wrong = 0;
  for (int i = 0; i < kCrashServices + kServicesPerFile; ++i) {
    bool wanted = i >= target->first_service && i < target->first_service + kCrashServices;
    auto now = served(state, crash_vip(i));
    wrong += !(now && *now == (wanted ? want : std::set<std::string>{}));
  }
  CHECK(wrong == 0);
  CHECK(map_entries(node, "services_v4") == kCrashServices);
  CHECK(map_entries(node, "service_state") == kCrashServices);
  CHECK(map_entries(node, "addrs_v4") == kCrashServices);  // its pods serve every service: no reverse entry
  CHECK(map_entries(node, "service_names") == kCrashServices);
  CHECK(map_entries(node, "slots") == 0);  // two backends each: kept in the state entries
  CHECK(map_entries(node, "backends") == 2 * kCrashServices);
}

TEST_CASE("reliability: a full map refuses the services that do not fit, naming the flag; raising it resizes in place") {
  Testbed node;
  std::string yaml;
  for (int i = 1; i <= 5; ++i) {
    std::string n = std::to_string(i), ip = "10.244.4." + n;
    node.serve({ip + ":8080"});
    yaml += service("svc-" + n, "10.96.4." + n, kHttpPort, "app-" + n) + pod({"pod-" + n, ip, "", "app-" + n});
  }
  node.write_manifest("services.yaml", yaml);
  node.start_agent({"--max-services", "3"});
  auto served = [&] {
    int n = 0;
    for (int i = 1; i <= 5; ++i) n += node.connect("10.96.4." + std::to_string(i) + ":80")[0].ok;
    return n;
  };
  CHECK(served() == 3);
  int full_errors = 0;
  for (const auto& text : node.diagnostics())
    full_errors += text.find("map is full (3 entries): raise --max-services") != std::string::npos;
  CHECK(full_errors == 2);

  // raise the limit under load: the pinned maps are resized, not dropped
  std::string first_served;
  for (int i = 1; i <= 5 && first_served.empty(); ++i)
    if (node.connect("10.96.4." + std::to_string(i) + ":80")[0].ok) first_served = "10.96.4." + std::to_string(i) + ":80";
  ClientLoad load(node, first_served, 2, 600s);  // stopped after the resize
  load.wait_until_connecting();
  std::this_thread::sleep_for(500ms);
  node.kill_agent(SIGTERM);
  node.start_agent({"--max-services", "8"});
  // the maps --max-services sizes: addrs_v4/_v6, services_v4/_v6, service_state, service_names,
  // service_counters
  CHECK(node.events("datapath").at(0)["maps_resized"] == 7);
  CHECK(served() == 5);
  load.stop();
  auto attempts = load.finish();
  MESSAGE(attempts.size(), " connects through a resize of the service maps; failed: ", count_failed(attempts));
  CHECK_MESSAGE(count_failed(attempts) == 0, failures(attempts));
  CHECK(map_entries(node, "services_v4") == 5);
  CHECK(map_entries(node, "backends") == 5);
}
