#pragma once
// `socklb status`: is an agent running, do its programs act on the served
// cgroup, how did its last sync go, how full is each map. Assembled from the
// agent's status file (status/status_file.h) and the kernel; judged here, so
// a script can rely on the exit code.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "maps/map_layout.h"

namespace socklb {

struct StatusInputs {
  std::optional<nlohmann::json> agent_file;  // the agent's status file, if any
  bool agent_alive = false;                   // its pid runs socklb
  std::optional<std::string> attachment_problem;  // kernel/attachment_check.h
  std::optional<std::string> maps_problem;        // the maps could not be read
  struct MapFill {
    std::string name;
    // none for a per-CPU map of counters (service_counters, totals): each
    // entry is preallocated and always there, so no count of entries in use
    // means anything; it is shown with its capacity only, and never full
    std::optional<std::size_t> entries = 0;
    uint32_t capacity = 0;
    std::string flag;  // what raises it; empty when nothing does
  };
  std::vector<MapFill> maps;
};

// A map this full is a problem: the next services may not fit.
inline constexpr double kFullAt = 0.9;

struct StatusReport {
  std::vector<std::string> problems;  // empty: all is well
  std::string text;                   // for people
  nlohmann::json json;                // `-o json`
};

StatusReport assess(const StatusInputs& in);

}  // namespace socklb
