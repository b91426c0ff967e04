// `socklb status` judges what it read: every problem makes the exit code 1.

#include <doctest/doctest.h>

#include "cli/status_view.h"

using namespace socklb;

namespace {

StatusInputs healthy() {
  StatusInputs in;
  in.agent_file = nlohmann::json{{"pid", 42},
                                 {"started", "2026-11-30T16:00:00.000Z"},
                                 {"source", "manifests /etc/socklb/manifests"},
                                 {"cgroup", "/sys/fs/cgroup"},
                                 {"failing", false},
                                 {"last_sync",
                                  {{"sync", 3}, {"at", "2026-11-30T16:00:01.000Z"}, {"took_ms", 1.5}, {"services", 2},
                                   {"backends", 4}, {"held", 0}}}};
  in.agent_alive = true;
  in.maps = {{"services_v4", 2, 65536, "--max-services"}, {"backends", 4, 524288, "--max-backends"}};
  return in;
}

}  // namespace

TEST_CASE("status: a running agent, effective programs, a sync that went through, room in the maps") {
  StatusReport r = assess(healthy());
  CHECK(r.problems.empty());
  CHECK(r.json["ok"] == true);
  CHECK(r.text.find("running, pid 42") != std::string::npos);
  CHECK(r.text.find("#3 at 2026-11-30T16:00:01.000Z, took 1.5 ms: 2 services, 4 backends") != std::string::npos);
  CHECK(r.text.find("status: ok") != std::string::npos);
}

TEST_CASE("status: each problem is named, with what to do") {
  SUBCASE("no agent") {
    StatusInputs in = healthy();
    in.agent_file.reset();
    in.agent_alive = false;
    StatusReport r = assess(in);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].find("start `socklb run`") != std::string::npos);
  }
  SUBCASE("the agent stopped") {
    StatusInputs in = healthy();
    in.agent_alive = false;
    CHECK(assess(in).text.find("pid 42 is gone") != std::string::npos);
  }
  SUBCASE("a program detached") {
    StatusInputs in = healthy();
    in.attachment_problem = "link_connect4 was detached";
    CHECK(assess(in).problems == std::vector<std::string>{"link_connect4 was detached"});
  }
  SUBCASE("the last sync failed") {
    StatusInputs in = healthy();
    (*in.agent_file)["failing"] = true;
    (*in.agent_file)["last_failure"] = {{"sync", 4}, {"at", "x"}, {"stage", "apply"}, {"message", "map full"}};
    StatusReport r = assess(in);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0] == "the last sync failed: map full");
  }
  SUBCASE("services held by broken input") {
    StatusInputs in = healthy();
    (*in.agent_file)["last_sync"]["held"] = 2;
    CHECK(assess(in).problems == std::vector<std::string>{"2 services held by broken input"});
  }
  SUBCASE("a map 90 % full names its flag") {
    StatusInputs in = healthy();
    in.maps[0].entries = 60000;
    StatusReport r = assess(in);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0] == "map services_v4 is 92 % full: raise --max-services");
  }
}

TEST_CASE("status: per-CPU counter maps show their capacity, never a fill nor a problem") {
  StatusInputs in = healthy();
  in.maps.push_back({"service_counters", std::nullopt, 262144, "--max-services"});
  in.maps.push_back({"totals", std::nullopt, 1, ""});
  StatusReport r = assess(in);
  CHECK(r.problems.empty());
  CHECK(r.text.find("service_counters         - / 262144    per-CPU counters, no fill  (--max-services)") !=
        std::string::npos);
  CHECK(r.text.find("totals                   - / 1         per-CPU counters, no fill\n") != std::string::npos);
  REQUIRE(r.json["maps"].size() == 4);
  CHECK(r.json["maps"][3]["map"] == "totals");
  CHECK(r.json["maps"][3]["entries"].is_null());
  CHECK(r.json["maps"][3]["capacity"] == 1);
}
