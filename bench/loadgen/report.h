#pragma once
// What a run measured, merged over threads, and its one JSON line.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loadgen {

struct Tally {
  uint64_t ops = 0;                         // completed operations in the measured window
  uint64_t bytes = 0;                       // payload bytes moved in the measured window
  std::vector<uint32_t> latencies_ns;       // one sample per measured operation
  std::map<std::string, uint64_t> errors;   // by cause ("connect: Connection refused")
  std::map<std::string, uint64_t> answered_by;  // pod label -> responses

  void merge(Tally&& other);
};

struct CpuTimes {
  double user_s = 0, system_s = 0;
};

nlohmann::json to_json(const std::string& workload, double seconds, Tally& tally, const CpuTimes& cpu);

}  // namespace loadgen
