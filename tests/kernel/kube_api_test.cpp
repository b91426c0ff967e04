// socklb run --kubeconfig: services and EndpointSlices listed and watched
// from the project's fake API server (tests/fake_apiserver, itself checked
// against python3-kubernetes and kubectl), real programs and real sockets.

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <thread>

#include "client_load.h"
#include "expectations.h"
#include "fake_api.h"
#include "temp_dir.h"
#include "testbed.h"

using namespace kt;
using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Polls until `ok` holds; false when `limit` passed first. The limit only
// bounds a failing test: a passing one returns as soon as it holds.
bool eventually(const std::function<bool()>& ok, std::chrono::milliseconds limit = 20s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (ok()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return ok();
}

std::string reached(Testbed& node, const std::string& to) {
  auto a = node.connect(to);
  return a.empty() || !a[0].ok ? "error:" + (a.empty() ? std::string("none") : a[0].error) : a[0].backend;
}

HttpReply agent_get(const Testbed& node, const std::string& path, bool metrics = false) {
  int port = metrics ? node.metrics_port() : node.health_port();
  return http_get("http://127.0.0.1:" + std::to_string(port) + path);
}

// The value of an unlabelled (or fully labelled) metric line, -1 when absent.
double metric(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

// With milliseconds, as the API server writes it: a whole second could
// fall before the agent's start, which the agent does not count.
std::string now_rfc3339() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", std::gmtime(&now.tv_sec));
  return std::string(buf) + "." + std::to_string(1000 + now.tv_nsec / 1'000'000).substr(1) + "Z";
}

Json service_ref(const std::string& ns, const std::string& name) {
  return {{"kind", "Service"}, {"namespace", ns}, {"name", name}};
}

}  // namespace

TEST_CASE("kubernetes API: listed, a slice change, a delete; /healthz, /metrics, and a detached program seen") {
  FakeApi api;
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080"});
  api.put({api_service("shop", "web", "10.96.0.10"), api_slice("shop", "web", {"10.244.1.10"}),
           api_node("node-a", "zone-x")});
  node.use_api(api.kubeconfig());
  node.start_agent();
  CHECK(node.events("sync")[0]["source"] == "api");
  CHECK(reached(node, "10.96.0.10:80") == "10.244.1.10:8080");
  CHECK(agent_get(node, "/healthz").status == 200);
  CHECK(agent_get(node, "/livez").status == 200);

  int syncs = node.syncs_logged();
  Json moved = api_slice("shop", "web", {"10.244.1.11"});
  moved["metadata"]["annotations"] = {{"endpoints.kubernetes.io/last-change-trigger-time", now_rfc3339()}};
  api.put({moved});
  auto sync = node.wait_for_sync_after(syncs);
  CHECK(sync["updated"] == 1);
  CHECK(reached(node, "10.96.0.10:80") == "10.244.1.11:8080");

  std::string metrics = agent_get(node, "/metrics", true).body;
  CAPTURE(metrics);
  CHECK(metric(metrics, "socklb_services") == 1);
  CHECK(metric(metrics, "socklb_backends") == 1);
  CHECK(metric(metrics, "socklb_network_programming_duration_seconds_count") == 1);
  CHECK(metric(metrics, "socklb_syncs_total") == node.syncs_logged());
  CHECK(metric(metrics, "socklb_map_entries{map=\"services_v4\"}") == 1);

  syncs = node.syncs_logged();
  api.remove({service_ref("shop", "web")});
  sync = node.wait_for_sync_after(syncs);
  CHECK(sync["removed"] == 1);
  CHECK(node.services().empty());
  CHECK(reached(node, "10.96.0.10:80").rfind("error:", 0) == 0);  // no longer a ClusterIP: no route here

  // someone detaches a program: connects would go out untranslated, and /healthz says so
  int id = Json::parse(sh("bpftool -j link show pinned " + (node.bpffs() / "link_connect4").string()))["id"];
  sh("bpftool link detach id " + std::to_string(id));
  HttpReply health = agent_get(node, "/healthz");
  CHECK(health.status == 503);
  CHECK(Json::parse(health.body)["reason"].get<std::string>().find("link_connect4 was detached") != std::string::npos);
}

TEST_CASE("kubernetes API: a dropped watch and a 410 relist under load: 0 failed connects, changes made meanwhile applied") {
  FakeApi api;
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.20:8080", "10.244.1.21:8080"});
  api.put({api_service("shop", "web", "10.96.0.10"), api_slice("shop", "web", {"10.244.1.10"}),
           api_service("shop", "api", "10.96.0.20"), api_slice("shop", "api", {"10.244.1.20"})});
  node.use_api(api.kubeconfig());
  node.start_agent();
  int first_syncs = node.syncs_logged();
  ClientLoad load(node, "10.96.0.10:80", 1, 600s);  // stopped after the relist
  load.wait_until_connecting();
  auto before_drop = std::chrono::steady_clock::now();

  api.control("/drop-watches");
  api.put({api_slice("shop", "api", {"10.244.1.21"})});  // while the watches reconnect
  CHECK(eventually([&] { return reached(node, "10.96.0.20:80") == "10.244.1.21:8080"; }));

  // too old to resume: the agent lists again and applies only the difference
  api.control("/compact", {{"close_watches", true}});
  api.put({api_slice("shop", "api", {"10.244.1.20"})});
  CHECK(eventually([&] { return reached(node, "10.96.0.20:80") == "10.244.1.20:8080"; }));
  CHECK(eventually([&] { return metric(agent_get(node, "/metrics", true).body, "socklb_api_relists_total") >= 1; }));

  auto relisted = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(300ms);
  load.stop();
  auto attempts = load.finish();
  REQUIRE(!attempts.empty());
  // the load spanned the dropped watch, the relist and after
  auto [first, last] = std::minmax_element(attempts.begin(), attempts.end(),
                                           [](const Attempt& a, const Attempt& b) { return a.started < b.started; });
  CHECK(first->started < before_drop);
  CHECK(last->started > relisted);
  CHECK(count_ok(attempts) == static_cast<int>(attempts.size()));
  CHECK(count_by_backend(attempts) == std::map<std::string, int>{{"10.244.1.10:8080", static_cast<int>(attempts.size())}});
  // web never blinked: no sync after the first removed or re-added anything
  for (const auto& sync : node.events("sync")) {
    if (sync["sync"].get<int>() <= first_syncs) continue;
    CAPTURE(sync.dump());
    CHECK(sync["removed"] == 0);
    CHECK(sync["added"] == 0);
  }
  std::string metrics = agent_get(node, "/metrics", true).body;
  CHECK(metric(metrics, "socklb_api_watch_restarts_total") >= 2);
}

TEST_CASE("kubernetes API: away and back; an agent started while it is away keeps the pinned state until a full list") {
  FakeApi api;
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080"});
  api.put({api_service("shop", "web", "10.96.0.10"), api_slice("shop", "web", {"10.244.1.10"})});
  node.use_api(api.kubeconfig());
  node.start_agent();

  api.control("/down");
  CHECK(reached(node, "10.96.0.10:80") == "10.244.1.10:8080");  // the kernel keeps serving
  api.put({api_slice("shop", "web", {"10.244.1.11"})});        // made while the agent cannot see it
  api.control("/up");
  CHECK(eventually([&] { return reached(node, "10.96.0.10:80") == "10.244.1.11:8080"; }));

  node.kill_agent(SIGTERM);
  api.control("/down");
  node.launch_agent();
  REQUIRE(wait_for_event(node.agent(), "http", 0, 10s) >= 0);
  HttpReply health = agent_get(node, "/healthz");
  CHECK(health.status == 503);
  CHECK(Json::parse(health.body)["reason"].get<std::string>().find("waiting for the first complete list") != std::string::npos);
  // nothing wiped or shrunk while nothing is known
  CHECK(reached(node, "10.96.0.10:80") == "10.244.1.11:8080");
  CHECK(node.syncs_logged() == 0);

  api.put({api_slice("shop", "web", {"10.244.1.10"})});
  api.control("/up");
  node.wait_for_sync_after(0, 30s);
  CHECK(reached(node, "10.96.0.10:80") == "10.244.1.10:8080");
  CHECK(agent_get(node, "/healthz").status == 200);
}

TEST_CASE("kubernetes API: TLS with the cluster's CA and a token; a wrong token is refused, logged once, never shown") {
  const std::string token = "s3cret-token-7f1c";
  FakeApi api({.tls = true, .token = token});
  Testbed node;
  node.serve({"10.244.1.10:8080"});
  api.put({api_service("shop", "web", "10.96.0.10"), api_slice("shop", "web", {"10.244.1.10"})});
  node.use_api(api.kubeconfig());
  node.start_agent();
  CHECK(reached(node, "10.96.0.10:80") == "10.244.1.10:8080");
  node.kill_agent(SIGTERM);

  const std::string wrong = "wrong-token-4e2a";
  node.use_api(api.kubeconfig(wrong));
  node.launch_agent();
  REQUIRE(wait_for_event(node.agent(), "http", 0, 10s) >= 0);
  // retried with backoff (0.5 s, 1 s, 2 s ...), logged once per resource
  CHECK(eventually([&] {
    return metric(agent_get(node, "/metrics", true).body, "socklb_api_errors_total{code=\"401\"}") >= 6;
  }));
  int logged = 0;
  for (const auto& line : node.agent().lines()) {
    CHECK(line.find(wrong) == std::string::npos);
    CHECK(line.find(token) == std::string::npos);
    if (line.find("with 401") != std::string::npos) ++logged;
  }
  CHECK(logged >= 1);
  CHECK(logged <= 3);  // services, endpointslices, node: once each
  CHECK(agent_get(node, "/healthz").status == 503);
  CHECK(node.syncs_logged() == 0);
  CHECK(reached(node, "10.96.0.10:80") == "10.244.1.10:8080");  // the pinned state serves on
}

TEST_CASE("kubernetes API: 3000 services listed in pages; the ClusterRole grants exactly what the agent asked") {
  FakeApi api;
  Testbed node;
  api.control("/generate", {{"services", 3000}, {"backends", 2}, {"namespace", "bulk"}});
  api.put({api_node("node-a", "zone-x")});
  node.use_api(api.kubeconfig());
  node.start_agent();
  CHECK(node.events("sync")[0]["services"] == 3000);
  CHECK(node.events("sync")[0]["backends"] == 6000);

  int pages = 0;
  std::ifstream log(api.request_log());
  for (std::string line; std::getline(log, line);) {
    Json r = Json::parse(line);
    if (r["resource"] == "services" && r["verb"] == "list" && r["query"].contains("continue")) ++pages;
  }
  CHECK(pages >= 5);  // 3000 in pages of 500
  CommandResult rbac = run_command({"/usr/bin/python3", std::string(SOCKLB_TESTS_DIR) + "/deploy/rbac_coverage.py",
                                    std::string(SOCKLB_TESTS_DIR) + "/../deploy/kubernetes/clusterrole.yaml",
                                    api.request_log().string()});
  CHECK_MESSAGE(rbac.code == 0, rbac.output);
}

TEST_CASE("kubernetes API: a rotated tokenFile is read again (projected service account tokens rotate)") {
  FakeApi api({.tls = true, .token = "first-token-a1"});
  Testbed node;
  socklb::test::TempDir secrets;
  fs::path token_file = secrets.path() / "token";
  auto write_token = [&](const std::string& token) {  // as the kubelet does: a new file renamed into place
    std::ofstream(secrets.path() / ".token.new") << token << "\n";
    fs::rename(secrets.path() / ".token.new", token_file);
  };
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080"});
  api.put({api_service("shop", "web", "10.96.0.10"), api_slice("shop", "web", {"10.244.1.10"})});
  write_token("first-token-a1");
  node.use_api(api.kubeconfig_with_token_file(token_file));
  node.start_agent();
  CHECK(reached(node, "10.96.0.10:80") == "10.244.1.10:8080");

  // from now on the server accepts only the new token
  api.control("/token", {{"token", "second-token-b2"}});
  write_token("second-token-b2");
  api.control("/drop-watches");
  api.put({api_slice("shop", "web", {"10.244.1.11"})});
  CHECK(eventually([&] { return reached(node, "10.96.0.10:80") == "10.244.1.11:8080"; }));
  for (const auto& line : node.agent().lines()) {
    CHECK(line.find("first-token-a1") == std::string::npos);
    CHECK(line.find("second-token-b2") == std::string::npos);
  }
}
