// What the programs decided, counted and traced: a known number of connects
// and UDP sends (translated, refused for each reason) against the counters
// of `socklb services -o json` and /metrics, and against every event of
// `socklb trace -o json`; the trace's flag through Ctrl-C, SIGKILL and a
// second tracer; lost events counted, never silent; a service id handed out
// again starts its counters from zero.

#include <doctest/doctest.h>
#include <signal.h>

#include <optional>
#include <thread>

#include "expectations.h"
#include "fake_api.h"
#include "kernel/layout_pin.h"
#include "manifests.h"

using namespace kt;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

const std::string kWeb = "10.96.40.10", kEmpty = "10.96.40.20", kDns = "10.96.40.53";
const std::string kPodA = "10.244.40.1", kPodB = "10.244.40.2";

// web (TCP 80) and dns (UDP 53) on the same 2 pods, empty (TCP 80, no pod).
void serve_three(Testbed& node, const std::vector<std::string>& agent_args = {}) {
  node.serve({kPodA + ":8080", kPodB + ":8080"}, {kPodA + ":5353", kPodB + ":5353"});
  node.write_manifest("svc.yaml", service("web", kWeb, kHttpPort) + pod({"web-a", kPodA}) + pod({"web-b", kPodB}) +
                                      service("dns", kDns, "  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}\n") +
                                      service("empty", kEmpty, kHttpPort, "nobody"));
  node.start_agent(agent_args);
}

Json service_entry(Testbed& node, const std::string& name) {
  for (const auto& s : node.services())
    if (s["name"] == name) return s;
  FAIL("no service ", name, " in socklb services");
  return {};
}

// The value of one series of /metrics text; -1 when absent.
double metric(const std::string& text, const std::string& series) {
  for (std::size_t at = 0; (at = text.find(series + " ", at)) != std::string::npos; at += series.size())
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
  return -1;
}

std::string metrics_of(const Testbed& node) {
  auto reply = http_get("http://127.0.0.1:" + std::to_string(node.metrics_port()) + "/metrics");
  REQUIRE(reply.status == 200);
  return reply.body;
}

std::vector<std::string> trace_argv(const Testbed& node, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SOCKLB_BIN, "trace", "--bpffs", node.bpffs().string(), "-o", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// Starts `socklb trace -o json ARGS` and waits until its flag is on.
std::unique_ptr<ChildProcess> start_trace(const Testbed& node, const std::vector<std::string>& args = {}) {
  auto trace = std::make_unique<ChildProcess>(trace_argv(node, args));
  int line = trace->wait_for_line([](const std::string& l) { return l.find("socklb trace: tracing") == 0; }, 0, 10s);
  REQUIRE_MESSAGE(line >= 0, trace->output());
  return trace;
}

// The JSON records of a trace's output (its stderr notes are left out).
std::vector<Json> records(const ChildProcess& trace, const std::string& type) {
  std::vector<Json> out;
  for (const auto& line : trace.lines())
    if (!line.empty() && line[0] == '{') {
      auto j = Json::parse(line);
      if (j["type"] == type) out.push_back(j);
    }
  return out;
}

// The tracer pid in the pinned trace flag (0: off), read as an operator would.
uint32_t trace_flag(const Testbed& node) {
  auto dump = Json::parse(sh("bpftool -j map dump pinned " + (node.bpffs() / "trace_ctl").string()));
  REQUIRE(dump.size() == 1);
  return dump[0]["formatted"]["value"]["tracer_pid"];
}

// A probe run to completion: its pid (the trace must name it) and attempts.
struct ProbeRun {
  pid_t pid;
  std::vector<Attempt> attempts;
};

ProbeRun probe(const Testbed& node, const std::vector<std::string>& to, const ConnectOptions& options,
               std::optional<int> cpu = std::nullopt) {
  std::vector<std::string> argv = node.probe_connect_argv(to, options);
  // on one CPU: its counts go to that CPU's copy of the per-CPU entries
  if (cpu) argv.insert(argv.begin(), {"/usr/bin/taskset", "-c", std::to_string(*cpu)});
  ChildProcess p(argv);
  pid_t pid = p.pid();
  REQUIRE(p.wait() == 0);
  return {pid, parse_attempts(p.lines())};
}

}  // namespace

TEST_CASE("counters: every connect and UDP send counted per service and reason, in services -o json and /metrics") {
  Testbed node;
  serve_three(node, {"--metrics-per-service"});

  auto web = probe(node, {kWeb + ":80"}, {.count = 7});
  auto wrong_port = probe(node, {kWeb + ":81"}, {.count = 3});
  auto empty = probe(node, {kEmpty + ":80"}, {.count = 4});
  auto sends = probe(node, {kDns + ":53"}, {.proto = "udp-unconnected", .count = 5});
  auto udp_connects = probe(node, {kDns + ":53"}, {.proto = "udp", .count = 2});
  auto udp_wrong_port = probe(node, {kDns + ":54"}, {.proto = "udp-unconnected", .count = 2});
  CHECK(count_ok(web.attempts) == 7);
  INFO(describe(sends.attempts));
  CHECK(count_ok(sends.attempts) == 5);
  CHECK(count_ok(udp_connects.attempts) == 2);
  for (const auto* refused : {&wrong_port, &empty, &udp_wrong_port})
    for (const auto& a : refused->attempts) CHECK(a.error == "ECONNREFUSED");

  auto w = service_entry(node, "web"), d = service_entry(node, "dns"), e = service_entry(node, "empty");
  CAPTURE(w);
  CAPTURE(d);
  CAPTURE(e);
  CHECK(w["connects"] == 7);
  CHECK(w["udp_sends"] == 0);
  CHECK(w["refused"] == 0);  // a port the ClusterIP lacks has no service to count it for
  CHECK(w["refused_by_reason"]["no-backend"] == 0);
  CHECK(d["connects"] == 2);
  CHECK(d["udp_sends"] == 5);
  CHECK(d["refused"] == 0);
  CHECK(e["connects"] == 0);
  CHECK(e["refused"] == 4);
  CHECK(e["refused_by_reason"]["no-backend"] == 4);

  auto table = node.socklb({"services"});
  REQUIRE(table.code == 0);
  CHECK(table.output.find("CONNECTS") != std::string::npos);
  CHECK(table.output.find("REFUSED") != std::string::npos);

  std::string m = metrics_of(node);
  CAPTURE(m);
  CHECK(metric(m, "socklb_connects_total") == 9);
  CHECK(metric(m, "socklb_udp_sends_translated_total") == 5);
  CHECK(metric(m, "socklb_connect_refusals_total{reason=\"no-backend\"}") == 4);
  CHECK(metric(m, "socklb_connect_refusals_total{reason=\"no-such-port\"}") == 5);
  CHECK(metric(m, "socklb_trace_events_lost_total") == 0);
  std::string web_labels = "namespace=\"default\",service=\"web\",port_name=\"http\",cluster_ip=\"" + kWeb +
                           "\",port=\"80\",protocol=\"TCP\"";
  CHECK(metric(m, "socklb_service_connects_total{" + web_labels + "}") == 7);
  CHECK(metric(m, "socklb_service_connect_refusals_total{namespace=\"default\",service=\"empty\",port_name=\"http\","
                  "cluster_ip=\"" + kEmpty + "\",port=\"80\",protocol=\"TCP\",reason=\"no-backend\"}") == 4);
  CHECK(metric(m, "socklb_service_udp_sends_translated_total{namespace=\"default\",service=\"dns\",port_name=\"dns\","
                  "cluster_ip=\"" + kDns + "\",port=\"53\",protocol=\"UDP\"}") == 5);

  // a restarted agent adopts the counters with the maps: nothing is reset
  node.kill_agent(SIGTERM);
  node.start_agent();
  CHECK(service_entry(node, "web")["connects"] == 7);
  m = metrics_of(node);
  CHECK(metric(m, "socklb_connects_total") == 9);
  // without --metrics-per-service, only the totals
  CHECK(m.find("socklb_service_connects_total") == std::string::npos);
}

TEST_CASE("trace: every decision of known connects, with its process, ClusterIP, backend or reason") {
  Testbed node;
  serve_three(node);
  auto trace = start_trace(node, {"--count", "7"});
  CHECK(trace_flag(node) == static_cast<uint32_t>(trace->pid()));

  auto tcp = probe(node, {kWeb + ":80", kWeb + ":81", kEmpty + ":80"}, {.count = 4});  // web, 81, empty, web
  auto send = probe(node, {kDns + ":53"}, {.proto = "udp-unconnected"});
  auto udp = probe(node, {kDns + ":53"}, {.proto = "udp"});
  auto v6_socket = probe(node, {kWeb + ":80"}, {.v4_mapped = true});  // connect6, ::ffff:10.96.40.10
  REQUIRE(trace->wait() == 0);
  CHECK(trace_flag(node) == 0);

  auto got = records(*trace, "decision");
  CAPTURE(trace->output());
  REQUIRE(got.size() == 7);
  CHECK(records(*trace, "lost").empty());
  struct Expected {
    pid_t pid;
    std::string call, protocol, cluster_ip;
    int port;
    std::string verdict, reason, service, backend;  // backend "IP:PORT" as the probe saw it
  };
  auto answered = [](const ProbeRun& p, std::size_t i) { return p.attempts.at(i).backend; };
  std::vector<Expected> want = {
      {tcp.pid, "connect", "TCP", kWeb, 80, "translated", "", "web", answered(tcp, 0)},
      {tcp.pid, "connect", "TCP", kWeb, 81, "refused", "no-such-port", "", ""},
      {tcp.pid, "connect", "TCP", kEmpty, 80, "refused", "no-backend", "empty", ""},
      {tcp.pid, "connect", "TCP", kWeb, 80, "translated", "", "web", answered(tcp, 3)},
      {send.pid, "sendmsg", "UDP", kDns, 53, "translated", "", "dns", answered(send, 0)},
      {udp.pid, "connect", "UDP", kDns, 53, "translated", "", "dns", answered(udp, 0)},
      {v6_socket.pid, "connect", "TCP", kWeb, 80, "translated", "", "web", answered(v6_socket, 0)},
  };
  for (std::size_t i = 0; i < want.size(); ++i) {
    const Json& ev = got[i];
    const Expected& x = want[i];
    CAPTURE(i);
    CAPTURE(ev);
    CHECK(ev["pid"] == x.pid);
    CHECK(ev["comm"] == "socklb-probe");
    CHECK(ev["netns_cookie"].get<uint64_t>() != 0);
    CHECK(ev["netns_cookie"] == got[0]["netns_cookie"]);  // one client namespace
    CHECK(ev["call"] == x.call);
    CHECK(ev["protocol"] == x.protocol);
    CHECK(ev["cluster_ip"] == x.cluster_ip);
    CHECK(ev["port"] == x.port);
    CHECK(ev["verdict"] == x.verdict);
    CHECK(ev["affinity"] == false);
    CHECK(ev["ipv6_socket"] == (x.pid == v6_socket.pid));
    CHECK(ev["time"].get<std::string>().size() == 27);  // 2026-11-30T10:15:02.123456Z
    if (x.reason.empty()) CHECK(ev["reason"].is_null());
    else CHECK(ev["reason"] == x.reason);
    if (x.service.empty()) {
      CHECK(ev["service"].is_null());
    } else {
      CHECK(ev["service"]["namespace"] == "default");
      CHECK(ev["service"]["name"] == x.service);
    }
    if (x.backend.empty()) {
      CHECK(ev["backend"].is_null());
    } else {
      REQUIRE(ev["backend"].is_object());
      CHECK(ev["backend"]["address"].get<std::string>() + ":" + std::to_string(ev["backend"]["port"].get<int>()) ==
            x.backend);
      CHECK(ev["backend"]["id"].get<uint32_t>() != 0);
    }
  }
  // the trace saw what was counted
  CHECK(service_entry(node, "web")["connects"] == 3);
}

TEST_CASE("trace --service shows only that service's decisions, and refusals on its ClusterIP") {
  Testbed node;
  serve_three(node);
  auto trace = start_trace(node, {"--service", "default/web", "--count", "3"});
  probe(node, {kEmpty + ":80", kDns + ":53"}, {.proto = "udp-unconnected", .count = 2});  // not web's
  probe(node, {kEmpty + ":80", kWeb + ":80", kWeb + ":81", kWeb + ":80"}, {.count = 4});
  REQUIRE(trace->wait() == 0);
  auto got = records(*trace, "decision");
  CAPTURE(trace->output());
  REQUIRE(got.size() == 3);
  CHECK(got[0]["verdict"] == "translated");
  CHECK(got[0]["service"]["name"] == "web");
  CHECK(got[1]["reason"] == "no-such-port");
  CHECK(got[1]["port"] == 81);
  CHECK(got[2]["service"]["name"] == "web");
}

TEST_CASE("trace: Ctrl-C ends it with the flag off; a killed tracer's flag is taken over, or cleared by the agent") {
  Testbed node;
  serve_three(node);

  auto first = start_trace(node);
  // one at a time
  auto second = run_command(trace_argv(node, {"--count", "1"}));
  CHECK(second.code == 1);
  CHECK(second.output.find("another socklb trace is running (pid " + std::to_string(first->pid()) + ")") !=
        std::string::npos);
  first->signal(SIGINT);
  CHECK(first->wait() == 0);
  CHECK(trace_flag(node) == 0);
  CHECK(first->output().find("0 decisions shown, 0 lost") != std::string::npos);

  // SIGKILL: nothing runs to turn the flag off ...
  auto killed = start_trace(node);
  pid_t killed_pid = killed->pid();
  killed->signal(SIGKILL);
  killed->wait();
  CHECK(trace_flag(node) == static_cast<uint32_t>(killed_pid));
  // ... the next tracer takes it over, and sees only what happens from then on
  probe(node, {kWeb + ":80"}, {.count = 2});
  auto next = start_trace(node, {"--count", "1"});
  CHECK(next->output().find("the trace of pid " + std::to_string(killed_pid) + " was still on") != std::string::npos);
  auto after = probe(node, {kEmpty + ":80"}, {});
  REQUIRE(next->wait() == 0);
  auto got = records(*next, "decision");
  REQUIRE(got.size() == 1);
  CHECK(got[0]["pid"] == after.pid);
  CHECK(got[0]["reason"] == "no-backend");

  // ... or the agent turns it off on its next round (every 10 s)
  auto lines = node.agent().lines().size();
  auto orphan = start_trace(node);
  pid_t orphan_pid = orphan->pid();
  orphan->signal(SIGKILL);
  orphan->wait();
  int line = wait_for_event(node.agent(), "trace_cleared", lines, 15s);
  REQUIRE_MESSAGE(line >= 0, node.agent().output());
  CHECK((*agent_event(node.agent().lines()[line]))["tracer_pid"] == orphan_pid);
  CHECK(trace_flag(node) == 0);
}

TEST_CASE("trace: a tracer that does not keep up is told how many events it lost; none goes missing") {
  Testbed node;
  serve_three(node);
  auto trace = start_trace(node);
  trace->signal(SIGSTOP);
  REQUIRE(wait_until_stopped(trace->pid(), 5s));
  // far more than the ring buffer holds (about 10,000); refusals are quick
  const int kDecisions = 15000;
  auto refused = probe(node, {kEmpty + ":80"}, {.count = kDecisions});
  REQUIRE(refused.attempts.size() == kDecisions);
  trace->signal(SIGCONT);
  std::this_thread::sleep_for(500ms);
  trace->signal(SIGINT);
  REQUIRE(trace->wait() == 0);

  auto shown = records(*trace, "decision");
  uint64_t lost = 0;
  for (const auto& r : records(*trace, "lost")) lost += r["events"].get<uint64_t>();
  MESSAGE(kDecisions, " decisions while the tracer was stopped: ", shown.size(), " shown, ", lost, " reported lost");
  CHECK(lost > 0);
  CHECK(shown.size() + lost == kDecisions);
  CHECK(metric(metrics_of(node), "socklb_trace_events_lost_total") == lost);
  CHECK(service_entry(node, "empty")["refused"] == kDecisions);
}

TEST_CASE("counters: a service id handed out again starts from zero") {
  Testbed node;
  node.serve({kPodA + ":8080"});
  auto svc = [](int i) {
    return service("svc-" + std::to_string(i), "10.96.41." + std::to_string(i + 1), kHttpPort) + pod({"web-a", kPodA});
  };
  // 2 ports per family: service_state has 8 entries, so ids come round soon
  node.write_manifest("svc.yaml", svc(0));
  node.start_agent({"--max-services", "2"});
  uint32_t first_id = service_entry(node, "svc-0")["id"];
  REQUIRE(count_ok(probe(node, {"10.96.41.1:80"}, {.count = 3}).attempts) == 3);
  REQUIRE(service_entry(node, "svc-0")["connects"] == 3);

  // one service replaced by the next, sync after sync, until one gets svc-0's id
  int reused = -1;
  for (int i = 1; i < 20 && reused < 0; ++i) {
    node.apply("svc.yaml", svc(i));
    auto entry = service_entry(node, "svc-" + std::to_string(i));
    if (entry["id"] == first_id) reused = i;
  }
  REQUIRE_MESSAGE(reused > 0, "no id came round");
  MESSAGE("svc-", reused, " got svc-0's id ", first_id);
  auto entry = service_entry(node, "svc-" + std::to_string(reused));
  CHECK(entry["connects"] == 0);
  CHECK(entry["refused"] == 0);
  probe(node, {"10.96.41." + std::to_string(reused + 1) + ":80"}, {});
  CHECK(service_entry(node, "svc-" + std::to_string(reused))["connects"] == 1);
}

TEST_CASE("counters: a --max-services resize copies every CPU's counts into the new maps") {
  Testbed node;
  serve_three(node);
  int cpus = static_cast<int>(std::thread::hardware_concurrency());
  // counts in two CPUs' copies where there are two
  REQUIRE(count_ok(probe(node, {kWeb + ":80"}, {.count = 3}, 0).attempts) == 3);
  REQUIRE(count_ok(probe(node, {kWeb + ":80"}, {.count = 2}, cpus > 1 ? 1 : 0).attempts) == 2);
  probe(node, {kEmpty + ":80"}, {.count = 4});
  REQUIRE(service_entry(node, "web")["connects"] == 5);

  node.kill_agent(SIGTERM);
  node.start_agent({"--max-services", "8"});
  // addrs_v4/_v6, services_v4/_v6, service_state, service_names, service_counters
  CHECK(node.events("datapath").at(0)["maps_resized"] == 7);
  auto web = service_entry(node, "web");
  CHECK(web["connects"] == 5);
  CHECK(service_entry(node, "empty")["refused"] == 4);
  auto text = metrics_of(node);
  CHECK(metric(text, "socklb_connects_total") == 5);
  CHECK(metric(text, "socklb_connect_refusals_total{reason=\"no-backend\"}") == 4);
  // the resized maps are the ones counted in
  probe(node, {kWeb + ":80"}, {.count = 1});
  CHECK(service_entry(node, "web")["connects"] == 6);
  CHECK(metric(metrics_of(node), "socklb_connects_total") == 6);
}

TEST_CASE("layout migration: the counters start from zero in the new maps; a trace running across it stops, saying why") {
  Testbed node;
  serve_three(node);
  REQUIRE(count_ok(probe(node, {kWeb + ":80"}, {.count = 4}).attempts) == 4);
  REQUIRE(service_entry(node, "web")["connects"] == 4);
  auto trace = start_trace(node);
  node.kill_agent(SIGTERM);
  // what a socklb of another layout leaves: its record names another fingerprint
  socklb::Layout other = socklb::this_build_layout();
  other.fingerprint ^= 0x5eed;
  other.maps.at("service_counters") ^= 0x5eed;
  socklb::write_layout_pin(node.bpffs(), other);
  // the old datapath still counts, in its own maps, until the switch
  REQUIRE(count_ok(probe(node, {kWeb + ":80"}, {.count = 2}).attempts) == 2);

  node.start_agent();
  auto migrated = node.events("layout_migrated");
  REQUIRE_MESSAGE(migrated.size() == 1, node.agent().output());
  CHECK(migrated[0]["maps_changed"] == Json::array({"service_counters"}));
  // the trace read the old ring buffer: it sees that it is no longer the pinned one
  int line = trace->wait_for_line([](const std::string& l) { return l.find("were replaced") != std::string::npos; }, 0, 10s);
  CHECK_MESSAGE(line >= 0, trace->output());
  CHECK(trace->wait() == 1);
  CHECK(records(*trace, "decision").size() == 2);  // those made before the switch
  CHECK(trace_flag(node) == 0);  // the new flag: never on

  // every service has a new id in new maps: nothing is carried over
  auto web = service_entry(node, "web");
  CHECK(web["connects"] == 0);
  auto text = metrics_of(node);
  CHECK(metric(text, "socklb_connects_total") == 0);
  auto now = probe(node, {kWeb + ":80"}, {.count = 3});
  REQUIRE(count_ok(now.attempts) == 3);
  CHECK(service_entry(node, "web")["connects"] == 3);
  CHECK(metric(metrics_of(node), "socklb_connects_total") == 3);

  // a new trace reads the new ring buffer
  auto next = start_trace(node, {"--count", "1"});
  auto traced = probe(node, {kEmpty + ":80"}, {});
  REQUIRE(next->wait() == 0);
  auto got = records(*next, "decision");
  REQUIRE(got.size() == 1);
  CHECK(got[0]["pid"] == traced.pid);
  CHECK(got[0]["reason"] == "no-backend");
}
