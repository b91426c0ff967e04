// An upgrade that changes the layout of the maps: the new agent finds pins
// of another layout (its record says so, or there is none: a socklb from
// before the record), fills new maps while the old datapath serves, then
// switches. Clients connect all through it; every failed connect is a
// failure. docs/reliability.md lists these.

#include <bpf/bpf.h>
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <thread>

#include "kernel/layout_pin.h"
#include "kernel/loader.h"
#include "client_load.h"
#include "expectations.h"
#include "manifests.h"

using namespace kt;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// Every pin under the node's bpffs and what it holds now: a map's id, or the
// id of the program a link runs.
std::map<std::string, uint32_t> pinned_objects(const Testbed& node) {
  std::map<std::string, uint32_t> out;
  for (const auto& entry : fs::directory_iterator(node.bpffs())) {
    socklb::UniqueFd fd(bpf_obj_get(entry.path().c_str()));
    REQUIRE_MESSAGE(fd, entry.path());
    std::string name = entry.path().filename();
    if (socklb::is_link_pin(entry.path())) {
      bpf_link_info info{};
      __u32 len = sizeof(info);
      REQUIRE(bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0);
      out[name] = info.prog_id;
    } else {
      bpf_map_info info{};
      __u32 len = sizeof(info);
      REQUIRE(bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0);
      out[name] = info.id;
    }
  }
  return out;
}

std::vector<std::string> names_of(const std::map<std::string, uint32_t>& pins) {
  std::vector<std::string> names;
  for (const auto& [name, _] : pins) names.push_back(name);
  return names;
}

// What a socklb of another layout leaves behind, as far as its record goes:
// another fingerprint for the whole set and for one map.
void pin_record_of_another_layout(const Testbed& node) {
  socklb::Layout other = socklb::this_build_layout();
  other.fingerprint ^= 0x5eed;
  other.maps.at("backends") ^= 0x5eed;
  socklb::write_layout_pin(node.bpffs(), other);
}

std::string fingerprint_of_this_build() { return socklb::fingerprint_text(socklb::this_build_layout().fingerprint); }

// The line of the first event named `name`, -1 without one.
int line_of(Testbed& node, const std::string& name) {
  auto lines = node.agent().lines();
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (is_event(lines[i], name)) return static_cast<int>(i);
  return -1;
}

}  // namespace

TEST_CASE("layout migration: pins of another layout are replaced under 2 clients: 0 failed connects, the new maps serve") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080", "10.244.1.12:8080"});
  const std::string svc = service("web", "10.96.0.10", kHttpPort);
  node.write_manifest("web.yaml", svc + pod({"web-a", "10.244.1.10"}) + pod({"web-b", "10.244.1.11"}));
  node.start_agent();
  auto before = pinned_objects(node);

  ClientLoad load(node, "10.96.0.10:80", 2, 600s);  // stopped once the new maps served a while
  load.wait_until_connecting();
  std::this_thread::sleep_for(300ms);
  auto stopped = Clock::now();
  node.kill_agent(SIGTERM);  // an upgrade: the old agent stops, its pins serve
  nlohmann::json from, from_version, maps_changed;
  SUBCASE("the layout record names another layout") {
    pin_record_of_another_layout(node);
    from = socklb::fingerprint_text(socklb::this_build_layout().fingerprint ^ 0x5eed);
    from_version = std::string(socklb::socklb_version());
    maps_changed = {"backends"};
  }
  SUBCASE("pins of a socklb from before the layout record") {
    fs::remove(node.bpffs() / socklb::kLayoutPinName);
    maps_changed = nlohmann::json::array();
    for (const auto& [name, _] : socklb::this_build_layout().maps) maps_changed.push_back(name);
  }
  // meanwhile the CLI refuses to decode them, and changes nothing
  auto faked = pinned_objects(node);
  auto refused = node.socklb({"services"});
  CHECK(refused.code == 1);
  CHECK_MESSAGE(refused.output.find("was pinned by another socklb version") != std::string::npos, refused.output);
  CHECK(refused.output.find("this build: layout " + fingerprint_of_this_build()) != std::string::npos);
  CHECK(refused.output.find("restart the agent with this version to migrate, or `socklb uninstall`") != std::string::npos);
  CHECK(pinned_objects(node) == faked);

  node.start_agent();
  auto started = Clock::now();
  auto migrated = node.events("layout_migrated");
  REQUIRE_MESSAGE(migrated.size() == 1, node.agent().output());
  CHECK(migrated[0]["level"] == "warning");
  CHECK(migrated[0]["bpffs"] == node.bpffs().string());
  CHECK(migrated[0]["from"] == from);
  CHECK(migrated[0]["from_version"] == from_version);
  CHECK(migrated[0]["to"] == fingerprint_of_this_build());
  CHECK(migrated[0]["to_version"] == std::string(socklb::socklb_version()));
  CHECK(migrated[0]["maps_changed"] == maps_changed);
  CHECK(migrated[0]["pins_removed"] == nlohmann::json::array());
  auto datapath = node.events("datapath");
  REQUIRE(datapath.size() == 1);
  CHECK(datapath[0]["maps_adopted"] == 0);
  CHECK(datapath[0]["maps_created"] == socklb::kMaps.size() + 3);  // and sock_state, trace_ctl, trace_events
  CHECK(datapath[0]["links_updated"] == 9);
  CHECK(datapath[0]["links_created"] == 0);
  CHECK(datapath[0]["layout"] == fingerprint_of_this_build());
  // switched once the new maps held every service: before the first sync is reported
  CHECK(line_of(node, "layout_migrated") < line_of(node, "sync"));
  CHECK(node.events("sync").at(0)["added"] == 1);  // into empty maps

  std::this_thread::sleep_for(300ms);
  load.stop();
  auto attempts = load.finish();
  MESSAGE(attempts.size(), " connects by 2 clients through a layout migration; failed: ", count_failed(attempts));
  CHECK_MESSAGE(count_failed(attempts) == 0, failures(attempts));
  REQUIRE(!attempts.empty());
  auto [first, last] = std::minmax_element(attempts.begin(), attempts.end(),
                                           [](const Attempt& a, const Attempt& b) { return a.started < b.started; });
  CHECK(first->started < stopped);
  CHECK(last->started > started);  // the load spanned the stop, the migration and after

  // the record is this build's; every map is a new one, every link runs a new program; nothing staged or old is left
  auto record = socklb::read_layout_pin(node.bpffs());
  REQUIRE(record);
  CHECK(record->layout.fingerprint == socklb::this_build_layout().fingerprint);
  CHECK(record->layout.maps == socklb::this_build_layout().maps);
  CHECK(record->version == socklb::socklb_version());
  auto after = pinned_objects(node);
  CHECK(names_of(after) == names_of(before));
  for (const auto& [name, id] : after) {
    CAPTURE(name);
    if (name != socklb::kLayoutPinName) CHECK(id != before.at(name));
  }

  // the new maps are the live ones: a change is served from them
  node.apply("web.yaml", svc + pod({"web-b", "10.244.1.11"}) + pod({"web-c", "10.244.1.12"}));
  auto counts = count_by_backend(node.connect("10.96.0.10:80", {.count = 60}));
  CHECK_MESSAGE(counts.count("10.244.1.10:8080") == 0, describe(node.connect("10.96.0.10:80", {.count = 30})));
  CHECK(counts["10.244.1.11:8080"] + counts["10.244.1.12:8080"] == 60);
  CHECK(counts["10.244.1.12:8080"] > 0);
  CHECK(map_entries(node, "backends") == 2);
  CHECK(node.services().size() == 1);

  // the layout is this build's now: the next agent adopts the maps
  node.kill_agent(SIGTERM);
  node.start_agent();
  CHECK(node.events("layout_migrated").empty());
  CHECK(node.events("datapath").at(0)["maps_adopted"] == socklb::kMaps.size() + 3);
  auto adopted = pinned_objects(node);
  for (const auto& [name, id] : adopted)
    if (!socklb::is_link_pin(name)) CHECK(id == after.at(name));
}

TEST_CASE("layout migration: an agent killed in its first sync into the new maps leaves the old datapath as it was") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080"});
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}) +
                                      pod({"web-b", "10.244.1.11"}));
  node.start_agent();
  node.kill_agent(SIGTERM);
  pin_record_of_another_layout(node);
  auto before = pinned_objects(node);

  ClientLoad load(node, "10.96.0.10:80", 2, 600s);  // stopped after the second migration
  load.wait_until_connecting();
  std::vector<std::string> argv = node.agent_argv();
  argv.insert(argv.begin(), {"/usr/bin/env", "SOCKLB_FAULT=pause-before-phase:3"});
  {
    ChildProcess agent(argv);
    int line = wait_for_event(agent, "fault_point", 0, 30s);
    REQUIRE_MESSAGE(line >= 0, agent.output());
    REQUIRE(wait_until_stopped(agent.pid(), 10s));
    // half of a sync written, into maps nothing serves from: no pin, link or record changed
    CHECK(pinned_objects(node) == before);
    CHECK(events_in(agent.lines(), "layout_migrated").empty());
    CHECK(events_in(agent.lines(), "sync").empty());
    agent.signal(SIGKILL);
    agent.wait();
  }
  CHECK(pinned_objects(node) == before);
  auto record = socklb::read_layout_pin(node.bpffs());
  REQUIRE(record);
  CHECK(record->layout.fingerprint != socklb::this_build_layout().fingerprint);
  CHECK(count_ok(node.connect("10.96.0.10:80", {.count = 20})) == 20);

  // the next agent migrates from the same old datapath
  node.start_agent();
  CHECK(node.events("layout_migrated").size() == 1);
  record = socklb::read_layout_pin(node.bpffs());
  REQUIRE(record);
  CHECK(record->layout.fingerprint == socklb::this_build_layout().fingerprint);
  load.stop();
  auto attempts = load.finish();
  MESSAGE(attempts.size(), " connects by 2 clients through a migration killed half-way and a second one; failed: ",
          count_failed(attempts));
  CHECK_MESSAGE(count_failed(attempts) == 0, failures(attempts));
}
