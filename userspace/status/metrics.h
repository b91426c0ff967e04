#pragma once
// What the agent has done, for /metrics (Prometheus text format) and
// /healthz. The agent's thread writes it after each sync; the HTTP threads
// read it. Prometheus naming conventions: base units (seconds), _total for
// counters, one metric per meaning with labels for the kinds.

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "maps/map_layout.h"
#include "status/datapath_counters.h"

namespace socklb {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}
  void observe(double value);
  // The metric's lines: _bucket{le=...} (cumulative), _sum, _count.
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Counters kept by a source (the Kubernetes API's reflectors).
struct SourceCounters {
  uint64_t watch_restarts = 0;
  uint64_t relists = 0;
  std::map<std::string, uint64_t> errors_by_code;  // "401", "410", "unreachable", ...
};

struct SyncFigures {
  std::chrono::duration<double> took{0};
  std::size_t services = 0, backends = 0;
  std::array<std::size_t, kMaps.size()> map_entries{};
  std::array<uint32_t, kMaps.size()> map_capacity{};
};

class AgentMetrics {
 public:
  AgentMetrics();

  void sync_done(const SyncFigures& figures);
  void sync_failed();
  // The time from a change's trigger (EndpointSlice annotation, a file's
  // modification time) to the map writes that serve it.
  void network_programmed(std::chrono::duration<double> latency);
  void set_source_counters(std::function<SourceCounters()> read) { source_counters_ = std::move(read); }
  // What the programs counted, read from the maps at each scrape; it may
  // throw (the maps removed by `socklb uninstall`): the series are then left out.
  void set_datapath_counters(std::function<DatapathCounters()> read) { datapath_counters_ = std::move(read); }

  std::string render() const;

 private:
  mutable std::mutex mutex_;
  Histogram sync_duration_, network_programming_;
  uint64_t syncs_ = 0, sync_failures_ = 0;
  std::optional<SyncFigures> last_;
  std::function<SourceCounters()> source_counters_;
  std::function<DatapathCounters()> datapath_counters_;
};

// The datapath's series: totals always, one series per service and
// reason only when `counters.services` is filled (--metrics-per-service).
void render_datapath_counters(std::string& out, const DatapathCounters& counters);

}  // namespace socklb
