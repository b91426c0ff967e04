#pragma once
// `socklb trace`: one decision of the programs (bpf/trace.h writes a
// socklb_trace_event per connect or unconnected UDP send to a ClusterIP),
// decoded and rendered as a table line or a JSON object
// (docs/events.md, "socklb trace -o json"). Pure: the command's loop is in
// trace_command.cpp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "maps/map_layout.h"
#include "model/service.h"

namespace socklb {

struct TraceDecision {
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC, as bpf_ktime_get_ns()
  uint32_t pid = 0;
  std::string comm;
  uint64_t netns_cookie = 0, socket_cookie = 0;
  bool sendmsg = false;      // an unconnected UDP send; else connect()
  bool ipv6_socket = false;  // connect6/sendmsg6 (the address may still be IPv4, v4-mapped)
  ServiceKey dialled;        // the ClusterIP:port/protocol asked for
  uint32_t service_id = 0;   // 0: none (no such port)
  bool translated = false;
  std::string reason;  // of a refusal: "no-backend", "no-such-port"
  uint32_t backend_id = 0;
  Backend backend;  // when translated (its state is not part of the event)
  bool affinity = false;  // the client's affinity entry chose the backend
  bool held = false;      // a UDP socket's flow kept its backend

  // Filled in by the caller from service_names (not in the event).
  std::optional<ServiceRef> service;
  std::string port_name;
};

// nullopt when `raw` is not one event of this build's layout.
std::optional<TraceDecision> decode_trace_event(ByteView raw);

// Turns the event's CLOCK_MONOTONIC time into wall-clock time.
struct TraceClock {
  int64_t realtime_minus_monotonic_ns = 0;
  static TraceClock now();  // the offset between the two clocks now
  std::chrono::system_clock::time_point wall(uint64_t monotonic_ns) const;
};

// "2026-11-30T10:15:02.123456Z": UTC, microseconds.
std::string trace_time(std::chrono::system_clock::time_point t);

std::string trace_table_header();
std::string render_trace_line(const TraceDecision& d, const TraceClock& clock);
nlohmann::json render_trace_json(const TraceDecision& d, const TraceClock& clock);
// Events the tracer did not get (the ring buffer was full), since the last report.
std::string render_lost_line(uint64_t lost);
nlohmann::json render_lost_json(uint64_t lost, std::chrono::system_clock::time_point when);

}  // namespace socklb
