#include "status/metrics.h"

#include <fmt/format.h>

namespace socklb {
namespace {

// kube-proxy's sync latency buckets: 1 ms doubling to about 16 s.
std::vector<double> sync_buckets() {
  std::vector<double> b;
  for (double v = 0.001; b.size() < 15; v *= 2) b.push_back(v);
  return b;
}

// From a fraction of a second to minutes: a change may wait for an API
// server that was away.
std::vector<double> programming_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300};
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

std::string number(double v) { return fmt::format("{}", v); }

// Label values escape backslash, quote and newline.
std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// {namespace="default",service="web",port_name="http",cluster_ip="10.96.0.10",port="80",protocol="TCP"
std::string service_labels(const ServiceCounterSeries& s) {
  return fmt::format("namespace=\"{}\",service=\"{}\",port_name=\"{}\",cluster_ip=\"{}\",port=\"{}\",protocol=\"{}\"",
                     label_value(s.ns), label_value(s.name), label_value(s.port_name), s.cluster_ip, s.port, s.protocol);
}

}  // namespace

void render_datapath_counters(std::string& out, const DatapathCounters& c) {
  header(out, "socklb_connects_total", "counter",
         "connect() calls to a ClusterIP:port translated to a backend (TCP, and UDP sockets that connect)");
  out += fmt::format("socklb_connects_total {}\n", c.totals.connects);
  header(out, "socklb_udp_sends_translated_total", "counter",
         "Unconnected UDP sends to a ClusterIP:port translated to a backend");
  out += fmt::format("socklb_udp_sends_translated_total {}\n", c.totals.udp_sends);
  header(out, "socklb_connect_refusals_total", "counter",
         "connect() calls and UDP sends to a ClusterIP refused with ECONNREFUSED, by reason: no-backend (none that "
         "new connections may use), no-such-port (the ClusterIP does not define this port/protocol)");
  out += fmt::format("socklb_connect_refusals_total{{reason=\"no-backend\"}} {}\n", c.totals.refused_no_backend);
  out += fmt::format("socklb_connect_refusals_total{{reason=\"no-such-port\"}} {}\n", c.totals.refused_no_port);
  header(out, "socklb_trace_events_lost_total", "counter",
         "Decisions socklb trace did not see: its ring buffer was full");
  out += fmt::format("socklb_trace_events_lost_total {}\n", c.totals.trace_drops);
  if (c.services.empty()) return;
  header(out, "socklb_service_connects_total", "counter", "socklb_connects_total of one service port (ClusterIP:port)");
  for (const auto& s : c.services)
    out += fmt::format("socklb_service_connects_total{{{}}} {}\n", service_labels(s), s.counters.connects);
  header(out, "socklb_service_udp_sends_translated_total", "counter",
         "socklb_udp_sends_translated_total of one service port");
  for (const auto& s : c.services)
    if (s.protocol == "UDP")
      out += fmt::format("socklb_service_udp_sends_translated_total{{{}}} {}\n", service_labels(s), s.counters.udp_sends);
  header(out, "socklb_service_connect_refusals_total", "counter",
         "socklb_connect_refusals_total of one service port (no-such-port has no service)");
  for (const auto& s : c.services)
    out += fmt::format("socklb_service_connect_refusals_total{{{},reason=\"no-backend\"}} {}\n", service_labels(s),
                       s.counters.refused_no_backend);
}

void Histogram::observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  if (i < bounds_.size()) ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, number(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, number(sum_), name,
                     count_);
}

AgentMetrics::AgentMetrics() : sync_duration_(sync_buckets()), network_programming_(programming_buckets()) {}

void AgentMetrics::sync_done(const SyncFigures& figures) {
  std::lock_guard lock(mutex_);
  sync_duration_.observe(figures.took.count());
  ++syncs_;
  last_ = figures;
}

void AgentMetrics::sync_failed() {
  std::lock_guard lock(mutex_);
  ++sync_failures_;
}

void AgentMetrics::network_programmed(std::chrono::duration<double> latency) {
  std::lock_guard lock(mutex_);
  network_programming_.observe(std::max(0.0, latency.count()));
}

std::string AgentMetrics::render() const {
  std::string out;
  std::optional<SourceCounters> source;
  if (source_counters_) source = source_counters_();  // outside our lock: it takes the source's
  std::optional<DatapathCounters> datapath;
  if (datapath_counters_) {
    try {
      datapath = datapath_counters_();
    } catch (const std::exception&) {
      // the pins are gone (uninstalled under a running agent): nothing to count
    }
  }
  std::lock_guard lock(mutex_);
  sync_duration_.render(out, "socklb_sync_duration_seconds",
                        "Time of one sync: reconcile, plan and the map writes");
  network_programming_.render(out, "socklb_network_programming_duration_seconds",
                              "Time from a change's trigger (EndpointSlice last-change-trigger-time, or a manifest "
                              "file's modification time) to the map writes that serve it");
  header(out, "socklb_syncs_total", "counter", "Syncs that went through");
  out += fmt::format("socklb_syncs_total {}\n", syncs_);
  header(out, "socklb_sync_failures_total", "counter", "Syncs that failed and were retried");
  out += fmt::format("socklb_sync_failures_total {}\n", sync_failures_);
  if (last_) {
    header(out, "socklb_services", "gauge", "Service ports (ClusterIP:port/protocol) served");
    out += fmt::format("socklb_services {}\n", last_->services);
    header(out, "socklb_backends", "gauge", "Backend entries over all served service ports");
    out += fmt::format("socklb_backends {}\n", last_->backends);
    header(out, "socklb_last_sync_duration_seconds", "gauge", "Time of the last sync");
    out += fmt::format("socklb_last_sync_duration_seconds {}\n", number(last_->took.count()));
    header(out, "socklb_map_entries", "gauge", "Entries in use in each pinned map (after the last sync)");
    for (const auto& m : kMaps)
      if (!m.written_by_programs)
        out += fmt::format("socklb_map_entries{{map=\"{}\"}} {}\n", m.name, last_->map_entries[static_cast<std::size_t>(m.id)]);
    header(out, "socklb_map_capacity", "gauge", "Capacity (max_entries) of each pinned map: raise it with its --max-* flag");
    for (const auto& m : kMaps)
      out += fmt::format("socklb_map_capacity{{map=\"{}\"}} {}\n", m.name, last_->map_capacity[static_cast<std::size_t>(m.id)]);
  }
  if (datapath) render_datapath_counters(out, *datapath);
  if (source) {
    header(out, "socklb_api_watch_restarts_total", "counter", "Watches of the Kubernetes API started again after one ended");
    out += fmt::format("socklb_api_watch_restarts_total {}\n", source->watch_restarts);
    header(out, "socklb_api_relists_total", "counter", "Lists after the first (a 410 Gone, a watch that could not resume)");
    out += fmt::format("socklb_api_relists_total {}\n", source->relists);
    header(out, "socklb_api_errors_total", "counter", "Failed Kubernetes API requests by HTTP code (or \"unreachable\")");
    for (const auto& [code, n] : source->errors_by_code)
      out += fmt::format("socklb_api_errors_total{{code=\"{}\"}} {}\n", label_value(code), n);
  }
  return out;
}

}  // namespace socklb
