// `socklb trace`: the event the programs write, decoded and rendered.

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstring>

#include "cli/trace_command.h"
#include "cli/trace_view.h"

using namespace socklb;

namespace {

// An event as bpf/trace.h writes it: web's connect translated, or refused.
socklb_trace_event event(uint8_t verdict, uint8_t reason = 0) {
  socklb_trace_event e{};
  e.time_ns = 5'000'000'123'456;
  e.netns_cookie = 4096;
  e.socket_cookie = 77;
  e.pid = 4242;
  e.service_id = reason == SOCKLB_REASON_NO_PORT ? 0 : 3;
  e.vip[2] = htonl(0xffff);
  e.vip[3] = htonl(0x0a60000a);  // 10.96.0.10
  e.vip_port = htons(80);
  if (verdict == SOCKLB_VERDICT_TRANSLATED) {
    e.backend_id = 9;
    e.backend[2] = htonl(0xffff);
    e.backend[3] = htonl(0x0af40001);  // 10.244.0.1
    e.backend_port = htons(8080);
  }
  e.proto = SOCKLB_PROTO_TCP;
  e.hook = SOCKLB_HOOK_CONNECT;
  e.verdict = verdict;
  e.reason = reason;
  std::strcpy(e.comm, "curl");
  return e;
}

TraceDecision decode(const socklb_trace_event& e) {
  auto d = decode_trace_event(to_bytes(e));
  REQUIRE(d);
  return *d;
}

}  // namespace

TEST_CASE("decode_trace_event: every field of a translated connect; refusals carry their reason") {
  auto e = event(SOCKLB_VERDICT_TRANSLATED);
  e.flags = SOCKLB_TRACE_AFFINITY | SOCKLB_TRACE_IPV6;
  TraceDecision d = decode(e);
  CHECK(d.time_ns == 5'000'000'123'456);
  CHECK(d.pid == 4242);
  CHECK(d.comm == "curl");
  CHECK(d.netns_cookie == 4096);
  CHECK(d.socket_cookie == 77);
  CHECK_FALSE(d.sendmsg);
  CHECK(d.ipv6_socket);
  CHECK(d.dialled.str() == "10.96.0.10:80/TCP");
  CHECK(d.service_id == 3);
  CHECK(d.translated);
  CHECK(d.reason.empty());
  CHECK(d.backend_id == 9);
  CHECK(d.backend.str() == "10.244.0.1:8080");
  CHECK(d.affinity);
  CHECK_FALSE(d.held);

  auto no_port = decode(event(SOCKLB_VERDICT_REFUSED, SOCKLB_REASON_NO_PORT));
  CHECK_FALSE(no_port.translated);
  CHECK(no_port.reason == "no-such-port");
  CHECK(no_port.service_id == 0);
  CHECK(decode(event(SOCKLB_VERDICT_REFUSED, SOCKLB_REASON_NO_BACKEND)).reason == "no-backend");

  // a comm of all 16 bytes has no NUL
  e.hook = SOCKLB_HOOK_SENDMSG;
  e.proto = SOCKLB_PROTO_UDP;
  e.flags = SOCKLB_TRACE_HELD;
  std::memcpy(e.comm, "0123456789abcdef", 16);
  d = decode(e);
  CHECK(d.comm == "0123456789abcdef");
  CHECK(d.sendmsg);
  CHECK(d.held);
  CHECK(d.dialled.protocol == Protocol::UDP);
}

TEST_CASE("decode_trace_event refuses what is not one event of this layout") {
  auto e = event(SOCKLB_VERDICT_TRANSLATED);
  Bytes raw = to_bytes(e);
  CHECK_FALSE(decode_trace_event(ByteView(raw.data(), raw.size() - 1)));
  raw.push_back(0);
  CHECK_FALSE(decode_trace_event(raw));
  e.hook = 9;
  CHECK_FALSE(decode_trace_event(to_bytes(e)));
  e = event(7);
  CHECK_FALSE(decode_trace_event(to_bytes(e)));
}

TEST_CASE("trace output: a table line and a JSON object per decision, lost events said so") {
  TraceClock clock{1'700'000'000'000'000'000 - 5'000'000'000'000};  // the event at 2023-11-14T22:13:20.000123Z
  TraceDecision d = decode(event(SOCKLB_VERDICT_TRANSLATED));
  d.service = ServiceRef{"default", "web"};
  d.port_name = "http";

  auto j = render_trace_json(d, clock);
  CHECK(j["type"] == "decision");
  CHECK(j["time"] == "2023-11-14T22:13:20.000123Z");
  CHECK(j["pid"] == 4242);
  CHECK(j["comm"] == "curl");
  CHECK(j["netns_cookie"] == 4096);
  CHECK(j["call"] == "connect");
  CHECK(j["protocol"] == "TCP");
  CHECK(j["cluster_ip"] == "10.96.0.10");
  CHECK(j["port"] == 80);
  CHECK(j["service"] == nlohmann::json{{"namespace", "default"}, {"name", "web"}, {"port_name", "http"}, {"id", 3}});
  CHECK(j["verdict"] == "translated");
  CHECK(j["reason"].is_null());
  CHECK(j["backend"] == nlohmann::json{{"address", "10.244.0.1"}, {"port", 8080}, {"id", 9}});
  CHECK(j["affinity"] == false);
  CHECK(j["held_flow"] == false);

  std::string line = render_trace_line(d, clock);
  CAPTURE(line);
  CHECK(line.rfind("22:13:20.000123", 0) == 0);
  for (const char* part : {" 4242 ", " curl ", " 4096 ", " connect ", " TCP ", " 10.96.0.10:80 ",
                           "-> 10.244.0.1:8080  default/web:http\n"})
    CHECK(line.find(part) != std::string::npos);
  auto header = trace_table_header();
  CHECK(header.find("DECISION") == line.find("->"));  // the columns line up

  TraceDecision refused = decode(event(SOCKLB_VERDICT_REFUSED, SOCKLB_REASON_NO_PORT));
  j = render_trace_json(refused, clock);
  CHECK(j["verdict"] == "refused");
  CHECK(j["reason"] == "no-such-port");
  CHECK(j["service"].is_null());
  CHECK(j["backend"].is_null());
  CHECK(render_trace_line(refused, clock).find("refused: no-such-port\n") != std::string::npos);
  // a service id whose name was not found still says which id
  TraceDecision unnamed = decode(event(SOCKLB_VERDICT_REFUSED, SOCKLB_REASON_NO_BACKEND));
  CHECK(render_trace_json(unnamed, clock)["service"]["id"] == 3);
  CHECK(render_trace_line(unnamed, clock).find("refused: no-backend  service #3") != std::string::npos);

  CHECK(render_lost_line(1) == "--- 1 event lost: the ring buffer was full (the trace did not keep up)\n");
  auto lost = render_lost_json(12, clock.wall(5'000'000'123'456));
  CHECK(lost == nlohmann::json{{"type", "lost"}, {"time", "2023-11-14T22:13:20.000123Z"}, {"events", 12}});
}

TEST_CASE("--service takes NAMESPACE/NAME") {
  CHECK(parse_service_ref("default/web") == ServiceRef{"default", "web"});
  for (const char* bad : {"web", "/web", "default/", "a/b/c", ""}) CHECK_FALSE(parse_service_ref(bad));
}
