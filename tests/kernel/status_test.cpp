// `socklb status` against a real agent: ok while it serves, exit code 1 with
// the reason when it stopped or a program was detached.

#include <doctest/doctest.h>
#include <signal.h>

#include "expectations.h"
#include "manifests.h"
#include "testbed.h"

using namespace kt;

TEST_CASE("socklb status: ok while the agent serves; 1 with the reason when it stopped, or a program was detached") {
  Testbed node;
  node.serve({"10.244.1.10:8080"});
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}));
  node.start_agent();
  // counted in the per-CPU maps, which have no fill to judge
  REQUIRE(count_ok(node.connect("10.96.0.10:80", {.count = 2})) == 2);

  CommandResult ok = node.socklb({"status"});
  CAPTURE(ok.output);
  CHECK(ok.code == 0);
  CHECK(ok.output.find("agent:     running, pid " + std::to_string(node.agent().pid())) != std::string::npos);
  CHECK(ok.output.find("attached to " + node.cgroup().string() + " and effective") != std::string::npos);
  CHECK(ok.output.find("1 services, 1 backends") != std::string::npos);
  CHECK(ok.output.find("services_v4") != std::string::npos);
  CHECK(ok.output.find("  totals                   - / 1         per-CPU counters, no fill\n") != std::string::npos);
  CHECK(ok.output.find("  service_counters         - / ") != std::string::npos);
  CHECK(ok.output.find("status: ok") != std::string::npos);

  int id = nlohmann::json::parse(sh("bpftool -j link show pinned " + (node.bpffs() / "link_connect4").string()))["id"];
  sh("bpftool link detach id " + std::to_string(id));
  CommandResult detached = node.socklb({"status", "-o", "json"});
  CAPTURE(detached.output);
  CHECK(detached.code == 1);
  auto json = nlohmann::json::parse(detached.output);
  CHECK(json["ok"] == false);
  CHECK(json["programs_effective"] == false);

  node.kill_agent(SIGTERM);
  CommandResult stopped = node.socklb({"status"});
  CAPTURE(stopped.output);
  CHECK(stopped.code == 1);
  CHECK(stopped.output.find("is gone") != std::string::npos);
}
