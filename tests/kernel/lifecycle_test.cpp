// The datapath lives in the kernel, not in the agent: it survives the agent,
// is adopted by the next one, and goes away completely on uninstall.

#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "maps/map_codec.h"

#include "expectations.h"
#include "manifests.h"

using namespace kt;

namespace {

std::string attachments(const Testbed& node) { return sh("bpftool cgroup show " + node.cgroup().string()); }

}  // namespace

TEST_CASE("after SIGKILL the datapath keeps serving; a new agent adopts it without a failed connect") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080", "10.244.1.12:8080"});
  std::string svc = service("web", "10.96.0.10", kHttpPort);
  node.write_manifest("web.yaml", svc + pod({"web-a", "10.244.1.10"}) + pod({"web-b", "10.244.1.11"}));
  node.start_agent();
  auto before = node.services();

  // a client connecting all through the kill and the restart
  ChildProcess client({SOCKLB_PROBE_BIN, "--netns", node.netns(), "--cgroup", node.cgroup().string(), "connect",
                       "--to", "10.96.0.10:80", "--count", "300", "--interval-ms", "5"});
  node.kill_agent(SIGKILL);
  CHECK(count_ok(node.connect("10.96.0.10:80", {.count = 20})) == 20);
  node.start_agent();
  auto first_sync = node.wait_for_sync_after(0);
  CHECK((first_sync["added"] == 0 && first_sync["updated"] == 0 && first_sync["removed"] == 0));
  CHECK(client.wait() == 0);
  int failed = 0;
  for (const auto& line : client.lines()) failed += nlohmann::json::parse(line).value("ok", false) ? 0 : 1;
  CHECK(failed == 0);
  CHECK(client.lines().size() == 300);

  // adopted, not rebuilt: same ids, nothing duplicated or leaked; the
  // counters live in the pinned maps too, so every connect of the client's
  // and the 20 while no agent ran are counted
  auto after = node.services();
  REQUIRE(after.size() == 1);
  CHECK(after[0]["connects"] == 320);
  for (auto* services : {&before, &after})
    for (auto& s : *services)
      for (const char* field : {"connects", "udp_sends", "refused", "refused_by_reason"}) s.erase(field);
  CHECK(after == before);
  CHECK(map_entries(node, "services_v4") == 1);
  CHECK(map_entries(node, "slots") == 0);  // two backends: kept in the service's state entry
  CHECK(map_entries(node, "backends") == 2);
  CHECK(map_entries(node, "service_names") == 1);
  CHECK(attachments(node).find("socklb_connect4") != std::string::npos);

  SUBCASE("changes made while the agent was down are applied when it comes back") {
    node.kill_agent(SIGKILL);
    node.write_manifest("web.yaml", svc + pod({"web-b", "10.244.1.11"}) + pod({"web-c", "10.244.1.12"}));
    node.start_agent();
    auto counts = count_by_backend(node.connect("10.96.0.10:80", {.count = 60}));
    CHECK(counts.count("10.244.1.10:8080") == 0);
    CHECK(counts["10.244.1.11:8080"] + counts["10.244.1.12:8080"] == 60);
    CHECK(map_entries(node, "backends") == 2);
    CHECK(map_entries(node, "slots") == 0);  // two backends: kept in the service's state entry
  }
}

TEST_CASE("SIGTERM leaves the datapath serving; uninstall leaves no pin and no attachment") {
  Testbed node;
  node.serve({"10.244.1.10:8080"});
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}));
  node.start_agent();
  node.kill_agent(SIGTERM);
  CHECK(node.agent().wait() == 0);
  CHECK(node.events("stopping").size() == 1);  // "the datapath stays pinned and keeps serving"
  CHECK(node.connect("10.96.0.10:80")[0].ok);

  auto result = run_command({SOCKLB_BIN, "uninstall", "--bpffs", node.bpffs().string(), "--cgroup", node.cgroup().string()});
  INFO(result.output);
  CHECK(result.code == 0);
  CHECK_FALSE(std::filesystem::exists(node.bpffs()));
  CHECK(attachments(node).find("socklb") == std::string::npos);
  CHECK(node.connect("10.96.0.10:80")[0].error == "ENETUNREACH");  // untranslated again
  CHECK(run_command({SOCKLB_BIN, "uninstall", "--bpffs", node.bpffs().string()}).output.find("nothing to uninstall") !=
        std::string::npos);
}

TEST_CASE("uninstall detaches even while an agent still holds the programs") {
  Testbed node;
  node.serve({"10.244.1.10:8080"});
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}));
  node.start_agent();
  auto result = node.socklb({"uninstall", "--cgroup", node.cgroup().string()});
  CHECK(result.code == 0);
  CHECK(attachments(node).find("socklb") == std::string::npos);
  CHECK(node.connect("10.96.0.10:80")[0].error == "ENETUNREACH");
}

TEST_CASE("pins are root-only") {
  Testbed node;
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort));
  node.start_agent();
  namespace fs = std::filesystem;
  CHECK((fs::status(node.bpffs()).permissions() & fs::perms::all) == fs::perms::owner_all);
  for (const auto& entry : fs::directory_iterator(node.bpffs()))
    CHECK((fs::status(entry.path()).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
}

TEST_CASE("a ClusterIP entry removed behind the agent's back is restored by the next full resync, which logs the drift") {
  using namespace std::chrono_literals;
  Testbed node;
  node.serve({"10.244.1.10:8080"});
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}));
  node.start_agent({"--full-resync", "2"});
  REQUIRE(count_ok(node.connect("10.96.0.10:80")) == 1);
  std::size_t from = node.agent().lines().size();

  // someone else deletes the ClusterIP's address entry: connects to it are no longer translated
  {
    auto maps = socklb::PinnedMaps::open(node.bpffs(), false);
    auto [map, key] = socklb::encode_addr_key(*socklb::IpAddress::parse("10.96.0.10"));
    maps->remove(map, {key});
  }
  CHECK(count_ok(node.connect("10.96.0.10:80", {.timeout_ms = 300})) == 0);

  // no change in the manifests: only the resync can see it
  nlohmann::json resync;
  for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until && resync.is_null();) {
    for (const auto& sync : node.events("sync", from))
      if (sync.value("resync", false) && sync.value("writes", 0) > 0) resync = sync;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE_MESSAGE(!resync.is_null(), node.agent().output());
  CHECK(resync["writes"] == 1);  // the one entry, nothing else rewritten
  CHECK(count_ok(node.connect("10.96.0.10:80")) == 1);
  bool logged = false;
  for (const auto& log : node.events("log", from))
    logged |= log.value("message", "").find("drifted") != std::string::npos;
  CHECK(logged);
}
