#pragma once
// `socklb services`: what the kernel serves, read back from the pinned maps.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datapath/kernel_state.h"

namespace socklb {

struct ServiceRow {
  ServiceKey key;
  ServiceRef ref;
  std::string port_name;
  uint32_t id = 0;
  uint32_t affinity_timeout_sec = 0;  // 0: none
  bool fallback = false;              // serving terminating backends: no ready one left
  bool incomplete = false;            // a slot or backend is missing (should never show)
  std::vector<std::pair<uint32_t, Backend>> backends;  // id, backend
};

std::vector<ServiceRow> service_rows(const KernelState& state);
std::string render_table(const std::vector<ServiceRow>& rows);
nlohmann::json render_json(const std::vector<ServiceRow>& rows);

}  // namespace socklb
