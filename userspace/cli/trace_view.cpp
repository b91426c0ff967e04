#include "cli/trace_view.h"

#include <arpa/inet.h>
#include <time.h>

#include <cstring>

#include <fmt/format.h>

namespace socklb {
namespace {

std::string endpoint(const IpAddress& ip, uint16_t port) {
  return ip.is_v4() ? ip.str() + ":" + std::to_string(port) : "[" + ip.str() + "]:" + std::to_string(port);
}

std::string label(const TraceDecision& d) {
  if (!d.service) return d.service_id ? "service #" + std::to_string(d.service_id) : "";
  return d.service->str() + (d.port_name.empty() ? "" : ":" + d.port_name);
}

}  // namespace

std::optional<TraceDecision> decode_trace_event(ByteView raw) {
  if (raw.size() != sizeof(socklb_trace_event)) return std::nullopt;
  auto e = from_bytes<socklb_trace_event>(raw);
  if ((e.hook != SOCKLB_HOOK_CONNECT && e.hook != SOCKLB_HOOK_SENDMSG) ||
      (e.verdict != SOCKLB_VERDICT_TRANSLATED && e.verdict != SOCKLB_VERDICT_REFUSED) ||
      (e.proto != SOCKLB_PROTO_TCP && e.proto != SOCKLB_PROTO_UDP))
    return std::nullopt;
  TraceDecision d;
  d.time_ns = e.time_ns;
  d.pid = e.pid;
  d.comm = std::string(e.comm, strnlen(e.comm, sizeof(e.comm)));
  d.netns_cookie = e.netns_cookie;
  d.socket_cookie = e.socket_cookie;
  d.sendmsg = e.hook == SOCKLB_HOOK_SENDMSG;
  d.ipv6_socket = e.flags & SOCKLB_TRACE_IPV6;
  d.dialled = {IpAddress::from_words(e.vip), ntohs(e.vip_port), static_cast<Protocol>(e.proto)};
  d.service_id = e.service_id;
  d.translated = e.verdict == SOCKLB_VERDICT_TRANSLATED;
  if (d.translated) {
    d.backend_id = e.backend_id;
    d.backend = {IpAddress::from_words(e.backend), ntohs(e.backend_port)};
  } else {
    d.reason = e.reason == SOCKLB_REASON_NO_PORT ? "no-such-port" : "no-backend";
  }
  d.affinity = e.flags & SOCKLB_TRACE_AFFINITY;
  d.held = e.flags & SOCKLB_TRACE_HELD;
  return d;
}

TraceClock TraceClock::now() {
  timespec real{}, mono{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  auto ns = [](const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
  return {ns(real) - ns(mono)};
}

std::chrono::system_clock::time_point TraceClock::wall(uint64_t monotonic_ns) const {
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::nanoseconds(static_cast<int64_t>(monotonic_ns) + realtime_minus_monotonic_ns)));
}

std::string trace_time(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(us / 1'000'000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:06}Z", buf, us % 1'000'000);
}

std::string trace_table_header() {
  return fmt::format("{:<15}  {:>7}  {:<15}  {:>10}  {:<7}  {:<5}  {:<22}  {}\n", "TIME (UTC)", "PID", "COMM", "NETNS",
                     "CALL", "PROTO", "CLUSTERIP:PORT", "DECISION");
}

std::string render_trace_line(const TraceDecision& d, const TraceClock& clock) {
  std::string decision;
  if (d.translated) {
    decision = "-> " + endpoint(d.backend.ip, d.backend.port);
    if (d.affinity) decision += " (affinity)";
    if (d.held) decision += " (kept by the socket's flow)";
  } else {
    decision = "refused: " + d.reason;
  }
  std::string service = label(d);
  if (!service.empty()) decision += "  " + service;
  // the time of day: the date is in the JSON output
  std::string time = trace_time(clock.wall(d.time_ns)).substr(11, 15);
  return fmt::format("{:<15}  {:>7}  {:<15}  {:>10}  {:<7}  {:<5}  {:<22}  {}\n", time, d.pid, d.comm, d.netns_cookie,
                     d.sendmsg ? "sendmsg" : "connect", protocol_name(d.dialled.protocol),
                     endpoint(d.dialled.vip, d.dialled.port), decision);
}

nlohmann::json render_trace_json(const TraceDecision& d, const TraceClock& clock) {
  nlohmann::json service;
  if (d.service)
    service = {{"namespace", d.service->ns}, {"name", d.service->name}, {"port_name", d.port_name}, {"id", d.service_id}};
  else if (d.service_id)
    service = {{"namespace", nullptr}, {"name", nullptr}, {"port_name", nullptr}, {"id", d.service_id}};
  nlohmann::json backend;
  if (d.translated) backend = {{"address", d.backend.ip.str()}, {"port", d.backend.port}, {"id", d.backend_id}};
  return {
      {"type", "decision"},
      {"time", trace_time(clock.wall(d.time_ns))},
      {"pid", d.pid},
      {"comm", d.comm},
      {"netns_cookie", d.netns_cookie},
      {"socket_cookie", d.socket_cookie},
      {"call", d.sendmsg ? "sendmsg" : "connect"},
      {"protocol", protocol_name(d.dialled.protocol)},
      {"cluster_ip", d.dialled.vip.str()},
      {"port", d.dialled.port},
      {"ipv6_socket", d.ipv6_socket},
      {"service", service},
      {"verdict", d.translated ? "translated" : "refused"},
      {"reason", d.reason.empty() ? nlohmann::json() : nlohmann::json(d.reason)},
      {"backend", backend},
      {"affinity", d.affinity},
      {"held_flow", d.held},
  };
}

std::string render_lost_line(uint64_t lost) {
  return fmt::format("--- {} event{} lost: the ring buffer was full (the trace did not keep up)\n", lost,
                     lost == 1 ? "" : "s");
}

nlohmann::json render_lost_json(uint64_t lost, std::chrono::system_clock::time_point when) {
  return {{"type", "lost"}, {"time", trace_time(when)}, {"events", lost}};
}

}  // namespace socklb
