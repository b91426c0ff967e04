#pragma once
// `socklb services`: what the kernel serves, read back from the pinned maps.
// service_rows() is the one decoder of "what does each ClusterIP:port serve";
// the tests build their views of the maps on it too (tests/support/served.h).

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "maps/kernel_state.h"

namespace socklb {

struct ServiceRow {
  ServiceKey key;
  ServiceRef ref;
  std::string port_name;
  uint32_t id = 0;
  uint32_t affinity_timeout_sec = 0;  // 0: none
  bool fallback = false;              // serving terminating backends: no ready one left
  bool incomplete = false;            // a slot or backend is missing (should never show)
  // The ClusterIP's address entry marks it as one, so connects to it are
  // translated at all (false only if that entry is missing: should never show).
  bool reachable = false;
  // id, backend: the live set first (what new connects choose from, in slot
  // order), then the entries kept only for open flows (not chosen for new ones).
  std::vector<std::pair<uint32_t, Backend>> backends;
  std::size_t live = 0;  // how many of `backends` are the live set
  // Every backend entry that names this service, by id. Between syncs these
  // are `backends`; inside one, also entries written but not flipped to yet.
  std::vector<std::pair<uint32_t, Backend>> entries;
  // What the programs decided for it since its id was handed out
  // (service_counters; zeros until counters_of() fills them in).
  socklb_service_counters counters{};
};

std::vector<ServiceRow> service_rows(const KernelState& state);
// The service_counters keys of these rows, and the entries read back for
// them put into the rows.
std::vector<Bytes> counter_keys(const std::vector<ServiceRow>& rows);
void add_counters(std::vector<ServiceRow>& rows, const MapEntries& counters);
// service_rows() with their counters, read from the maps.
std::vector<ServiceRow> service_rows_with_counters(const MapStore& maps);
// All refusals of a service, whatever the reason.
uint64_t refused(const socklb_service_counters& c);
std::string state_name(BackendState state);        // "active", "terminating", "serving", "listed"
std::string service_label(const ServiceRow& row);  // "default/web:http"
std::string render_table(const std::vector<ServiceRow>& rows);
nlohmann::json render_json(const std::vector<ServiceRow>& rows);

}  // namespace socklb
