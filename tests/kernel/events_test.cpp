// The agent's event stream (docs/events.md) is a contract: every line an
// object, every documented field there with its type; and SOCKLB_FAULT stops
// the agent exactly where it says.

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>

#include "expectations.h"
#include "manifests.h"

using namespace kt;
using namespace std::chrono_literals;

namespace {

using Json = nlohmann::json;

// The fields of an event that docs/events.md lists, each with its JSON type
// ("number" accepts integers too; "string?" and "number?" may be null).
void check_fields(const Json& event, const std::vector<std::pair<std::string, std::string>>& fields) {
  for (const auto& [name, type] : fields) {
    CAPTURE(name);
    REQUIRE_MESSAGE(event.contains(name), event.dump());
    const Json& v = event[name];
    bool nullable = type.back() == '?';
    std::string base = nullable ? type.substr(0, type.size() - 1) : type;
    bool ok = (nullable && v.is_null()) || (base == "string" && v.is_string()) ||
              (base == "integer" && v.is_number_integer()) || (base == "number" && v.is_number()) ||
              (base == "array" && v.is_array());
    CHECK_MESSAGE(ok, name << " should be " << type << ": " << event.dump());
  }
}

}  // namespace

TEST_CASE("--log-format json: every line an event; datapath, diagnostic, sync and stopping as documented") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080"});
  const std::string api = service("api", "10.96.0.20", kHttpPort, "api");
  const std::string broken_api = service("api", "10.96.0.20", "  - {name: http, port: \"80\", targetPort: 8080}\n", "api");
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}) + api);
  node.start_agent();
  // a change and a broken neighbour in one edit: the change applies, the broken service is held
  node.apply("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-b", "10.244.1.11"}) + broken_api);
  node.kill_agent(SIGTERM);

  for (const auto& line : node.agent().lines()) {
    CAPTURE(line);
    auto event = agent_event(line);
    REQUIRE(event);
    check_fields(*event, {{"time", "string"}, {"level", "string"}, {"event", "string"}});
    std::string time = (*event)["time"];
    CHECK(time.size() == 24);  // 2026-11-26T10:15:02.123Z
    CHECK(time.back() == 'Z');
  }

  auto datapath = node.events("datapath");
  REQUIRE(datapath.size() == 1);
  check_fields(datapath[0], {{"bpffs", "string"}, {"cgroup", "string"}, {"maps_adopted", "integer"},
                             {"maps_created", "integer"}, {"maps_resized", "integer"}, {"links_updated", "integer"},
                             {"links_created", "integer"}, {"layout", "string"}});
  CHECK(datapath[0]["bpffs"] == node.bpffs().string());
  CHECK(datapath[0]["maps_adopted"] == 0);
  CHECK(datapath[0]["layout"].get<std::string>().size() == 16);
  CHECK(node.events("layout_migrated").empty());  // a first install has nothing to migrate

  auto syncs = node.events("sync");
  REQUIRE(syncs.size() == 2);
  for (const auto& sync : syncs)
    check_fields(sync, {{"sync", "integer"},    {"services", "integer"},     {"backends", "integer"},
                        {"files", "integer"},   {"parsed", "integer"},       {"read_ms", "number"},
                        {"plan_ms", "number"},  {"apply_ms", "number"},      {"since_change_ms", "number?"},
                        {"writes", "integer"},  {"added", "integer"},        {"updated", "integer"},
                        {"removed", "integer"}, {"held", "integer"},         {"unchanged", "integer"},
                        {"changes", "array"},   {"changes_omitted", "integer"}, {"errors", "integer"},
                        {"warnings", "integer"},  {"served_since_change_ms", "number?"},
                        {"removals_pending", "integer"}});
  CHECK(syncs[0]["sync"] == 1);
  CHECK(syncs[0]["resync"] == false);
  CHECK(syncs[0]["since_change_ms"].is_null());  // the first sync: no change behind it
  CHECK(syncs[0]["added"] == 2);
  auto added = syncs[0]["changes"].get<std::vector<std::string>>();
  std::sort(added.begin(), added.end());
  CHECK(added == std::vector<std::string>{"+default/api:http 10.96.0.20:80/TCP", "+default/web:http 10.96.0.10:80/TCP"});
  CHECK(syncs[0]["changes_omitted"] == 0);
  CHECK(syncs[1]["sync"] == 2);
  CHECK(syncs[1]["since_change_ms"].get<double>() > 0);
  // served no later than all its writes were done
  CHECK(syncs[1]["served_since_change_ms"].get<double>() > 0);
  CHECK(syncs[1]["served_since_change_ms"].get<double>() <= syncs[1]["since_change_ms"].get<double>());
  CHECK(syncs[1]["updated"] == 1);
  CHECK(syncs[1]["held"] == 1);
  CHECK(syncs[1]["services"] == 2);
  CHECK(syncs[1]["backends"] == 1);
  CHECK(syncs[1]["errors"] == 1);
  CHECK(syncs[1]["changes"] == Json::array({"~default/web:http 10.96.0.10:80/TCP"}));
  // web-a's entries (backend, pod address, reverse) went after their grace period, in a cleanup event
  CHECK(syncs[0]["removals_pending"] == 0);  // into empty maps nothing is replaced
  REQUIRE(syncs[1]["removals_pending"].get<int>() > 0);
  auto cleanups = node.events("cleanup");
  REQUIRE(cleanups.size() == 1);
  check_fields(cleanups[0], {{"sync", "integer"}, {"removed", "integer"}, {"after_served_ms", "number"},
                             {"since_change_ms", "number?"}});
  CHECK(cleanups[0]["sync"] == 2);
  CHECK(cleanups[0]["removed"] == syncs[1]["removals_pending"]);
  CHECK(cleanups[0]["since_change_ms"].get<double>() >= syncs[1]["since_change_ms"].get<double>());

  auto diagnostics = node.events("diagnostic");
  REQUIRE(diagnostics.size() == 1);
  const Json& d = diagnostics[0];
  check_fields(d, {{"sync", "integer"}, {"severity", "string"}, {"file", "string?"}, {"line", "integer"},
                   {"object", "string?"}, {"field", "string?"}, {"message", "string"}});
  CHECK(d["sync"] == 2);
  CHECK(d["level"] == "error");
  CHECK(d["severity"] == "error");
  CHECK(d["file"] == (node.manifests() / "web.yaml").string());
  CHECK(d["object"] == "Service default/api");
  CHECK(d["field"] == "spec.ports[0].port");
  CHECK(d["message"].get<std::string>().find("expected a number") != std::string::npos);

  auto stopping = node.events("stopping");
  REQUIRE(stopping.size() == 1);
  CHECK(stopping[0]["signal"] == "SIGTERM");
  CHECK(stopping[0]["bpffs"] == node.bpffs().string());
  CHECK(is_event(node.agent().lines().back(), "stopping"));  // and nothing after it
}

TEST_CASE("SOCKLB_FAULT=pause-before-phase:3 stops the agent with phases 1-2 written and nothing of phase 3") {
  Testbed node;
  node.serve({"10.244.1.10:8080"});
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}));
  std::vector<std::string> argv = node.agent_argv();
  argv.insert(argv.begin(), {"/usr/bin/env", "SOCKLB_FAULT=pause-before-phase:3"});
  ChildProcess agent(argv);

  int line = wait_for_event(agent, "fault_point", 0, 30s);
  REQUIRE_MESSAGE(line >= 0, agent.output());
  auto fault = *agent_event(agent.lines()[line]);
  CHECK(fault["fault"] == "pause-before-phase");
  CHECK(fault["phase"] == 3);
  CHECK(fault["sync"] == 1);
  CHECK(fault["pid"] == agent.pid());
  REQUIRE(wait_until_stopped(agent.pid(), 10s));
  // phase 1 wrote the backend; phase 3 (the service and its ClusterIP) has not run
  CHECK(map_entries(node, "backends") == 1);
  CHECK(map_entries(node, "services_v4") == 0);
  CHECK(events_in(agent.lines(), "sync").empty());

  agent.signal(SIGCONT);
  REQUIRE(wait_for_event(agent, "sync", 0, 30s) >= 0);
  CHECK(count_by_backend(node.connect("10.96.0.10:80", {.count = 3})) == std::map<std::string, int>{{"10.244.1.10:8080", 3}});
  CHECK(events_in(agent.lines(), "fault_point").size() == 1);  // once per process
}

TEST_CASE("SOCKLB_FAULT with a value it does not know stops the start, naming the accepted one") {
  Testbed node;
  std::vector<std::string> argv = node.agent_argv();
  argv.insert(argv.begin(), {"/usr/bin/env", "SOCKLB_FAULT=pause-before-phase:5"});
  ChildProcess agent(argv);
  CHECK(agent.wait() == 1);
  REQUIRE(!agent.lines().empty());
  auto fatal = agent_event(agent.lines().back());
  REQUIRE_MESSAGE(fatal, agent.output());
  CHECK((*fatal)["event"] == "fatal");
  CHECK((*fatal)["message"].get<std::string>().find("pause-before-phase:N, N from 1 to 4") != std::string::npos);
}
