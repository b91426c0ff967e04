#include "report.h"

#include <algorithm>

namespace loadgen {

void Tally::merge(Tally&& other) {
  ops += other.ops;
  bytes += other.bytes;
  latencies_ns.insert(latencies_ns.end(), other.latencies_ns.begin(), other.latencies_ns.end());
  for (auto& [k, v] : other.errors) errors[k] += v;
  for (auto& [k, v] : other.answered_by) answered_by[k] += v;
}

namespace {

// Nearest-rank percentile of sorted samples, in microseconds.
double percentile_us(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()));
  return sorted[std::min(rank, sorted.size() - 1)] / 1000.0;
}

}  // namespace

nlohmann::json to_json(const std::string& workload, double seconds, Tally& tally, const CpuTimes& cpu) {
  std::sort(tally.latencies_ns.begin(), tally.latencies_ns.end());
  auto& lat = tally.latencies_ns;
  nlohmann::json j;
  j["workload"] = workload;
  j["seconds"] = seconds;
  j["ops"] = tally.ops;
  j["ops_per_s"] = seconds > 0 ? static_cast<double>(tally.ops) / seconds : 0;
  j["bytes"] = tally.bytes;
  j["gbit_per_s"] = seconds > 0 ? static_cast<double>(tally.bytes) * 8 / seconds / 1e9 : 0;
  j["latency_us"] = {{"p50", percentile_us(lat, 50)},   {"p90", percentile_us(lat, 90)},
                     {"p99", percentile_us(lat, 99)},   {"p99.9", percentile_us(lat, 99.9)},
                     {"samples", lat.size()}};
  j["errors"] = tally.errors;
  j["answered_by"] = tally.answered_by;
  j["cpu_s"] = {{"user", cpu.user_s}, {"system", cpu.system_s}};
  return j;
}

}  // namespace loadgen
