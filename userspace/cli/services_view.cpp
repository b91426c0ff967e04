#include "cli/services_view.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace socklb {

std::string state_name(BackendState state) {
  switch (state) {
    case BackendState::Active: return "active";
    case BackendState::Terminating: return "terminating";
    case BackendState::Serving: return "serving";
    case BackendState::Listed: return "listed";
  }
  return "?";
}

std::string service_label(const ServiceRow& row) {
  std::string label = row.ref.ns.empty() ? "?" : row.ref.str();
  return row.port_name.empty() ? label : label + ":" + row.port_name;
}

std::vector<ServiceRow> service_rows(const KernelState& state) {
  std::vector<ServiceRow> rows;
  // every backend entry by service, for the ones new connects do not use
  std::map<uint32_t, std::vector<uint32_t>> entries_of;
  for (const auto& [id, backend] : state.backends) entries_of[backend.service_id].push_back(id);
  for (const auto& [key, id] : state.services) {
    ServiceRow row;
    row.key = key;
    row.id = id;
    row.ref = state.owner(id);
    if (auto name = state.names.find(id); name != state.names.end())
      row.port_name = name_field(name->second.port_name, sizeof(name->second.port_name));
    auto addr = state.addrs.find(key.vip);
    row.reachable = addr != state.addrs.end() && addr_is_vip(addr->second);
    const socklb_service_state* served = state.served(key);
    row.incomplete = !served;
    if (served) {
      ServiceShape shape = decode_shape(*served);
      row.affinity_timeout_sec = shape.affinity ? shape.affinity_timeout_sec : 0;
      row.fallback = shape.fallback;
      auto ids = state.live_backend_ids(*served);
      row.incomplete = !ids;
      for (uint32_t backend_id : ids.value_or(std::vector<uint32_t>{})) {
        auto backend = state.backends.find(backend_id);
        if (backend == state.backends.end() || backend->second.service_id != id) row.incomplete = true;
        else row.backends.emplace_back(backend_id, decode_backend(backend->second));
      }
    }
    row.live = row.backends.size();
    for (uint32_t backend_id : entries_of[id]) {
      Backend b = decode_backend(state.backends.at(backend_id));
      row.entries.emplace_back(backend_id, b);
      if (!chosen_for_new_connects(b.state)) row.backends.emplace_back(backend_id, b);
    }
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end(), [](const ServiceRow& a, const ServiceRow& b) {
    return std::tie(a.ref, a.port_name, a.key) < std::tie(b.ref, b.port_name, b.key);
  });
  return rows;
}

std::vector<Bytes> counter_keys(const std::vector<ServiceRow>& rows) {
  std::vector<Bytes> keys;
  keys.reserve(rows.size());
  for (const auto& row : rows) keys.push_back(to_bytes(row.id));
  return keys;
}

void add_counters(std::vector<ServiceRow>& rows, const MapEntries& counters) {
  std::map<uint32_t, socklb_service_counters> by_id;
  for (const auto& [key, value] : counters) by_id[from_bytes<uint32_t>(key)] = from_bytes<socklb_service_counters>(value);
  for (auto& row : rows)
    if (auto it = by_id.find(row.id); it != by_id.end()) row.counters = it->second;
}

std::vector<ServiceRow> service_rows_with_counters(const MapStore& maps) {
  auto rows = service_rows(read_kernel_state(maps));
  add_counters(rows, maps.lookup(MapId::ServiceCounters, counter_keys(rows)));
  return rows;
}

uint64_t refused(const socklb_service_counters& c) { return c.refused_no_backend; }

std::string render_table(const std::vector<ServiceRow>& rows) {
  if (rows.empty()) return "no services are served\n";
  std::size_t w_service = 7, w_vip = 9, w_connects = 8, w_sends = 5, w_refused = 7;
  for (const auto& row : rows) {
    w_service = std::max(w_service, service_label(row).size());
    w_vip = std::max(w_vip, row.key.vip.str().size());
    w_connects = std::max(w_connects, std::to_string(row.counters.connects).size());
    w_sends = std::max(w_sends, std::to_string(row.counters.udp_sends).size());
    w_refused = std::max(w_refused, std::to_string(refused(row.counters)).size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:>5}  {:<5}  {:<9}  {:>{}}  {:>{}}  {:>{}}  {}\n", "SERVICE", w_service,
                                "CLUSTERIP", w_vip, "PORT", "PROTO", "AFFINITY", "CONNECTS", w_connects, "SENDS",
                                w_sends, "REFUSED", w_refused, "BACKENDS");
  for (const auto& row : rows) {
    std::string backends;
    for (const auto& [id, b] : row.backends)
      backends += (backends.empty() ? "" : " ") + b.str() +
                  (b.state == BackendState::Active ? "" : "(" + state_name(b.state) + ")");
    bool any = std::any_of(row.backends.begin(), row.backends.end(),
                           [](const auto& b) { return chosen_for_new_connects(b.second.state); });
    if (!any) backends = "none: connections are refused" + (backends.empty() ? "" : "; kept for open flows: " + backends);
    if (row.incomplete) backends += " [incomplete]";
    std::string affinity = row.affinity_timeout_sec ? fmt::format("{}s", row.affinity_timeout_sec) : "-";
    // unconnected UDP sends: only a UDP service has them
    std::string sends = row.key.protocol == Protocol::UDP ? std::to_string(row.counters.udp_sends) : "-";
    out += fmt::format("{:<{}}  {:<{}}  {:>5}  {:<5}  {:<9}  {:>{}}  {:>{}}  {:>{}}  {}\n", service_label(row), w_service,
                       row.key.vip.str(), w_vip, row.key.port, protocol_name(row.key.protocol), affinity,
                       row.counters.connects, w_connects, sends, w_sends, refused(row.counters), w_refused, backends);
  }
  return out;
}

nlohmann::json render_json(const std::vector<ServiceRow>& rows) {
  auto out = nlohmann::json::array();
  for (const auto& row : rows) {
    nlohmann::json backends = nlohmann::json::array();
    for (const auto& [id, b] : row.backends)
      backends.push_back({{"id", id}, {"address", b.ip.str()}, {"port", b.port}, {"state", state_name(b.state)}});
    out.push_back({
        {"namespace", row.ref.ns},
        {"name", row.ref.name},
        {"port_name", row.port_name},
        {"cluster_ip", row.key.vip.str()},
        {"port", row.key.port},
        {"protocol", protocol_name(row.key.protocol)},
        {"id", row.id},
        {"session_affinity_timeout_seconds", row.affinity_timeout_sec ? nlohmann::json(row.affinity_timeout_sec) : nlohmann::json()},
        {"serving_terminating_fallback", row.fallback},
        {"incomplete", row.incomplete},
        {"backends", backends},
        {"connects", row.counters.connects},
        {"udp_sends", row.counters.udp_sends},
        {"refused", refused(row.counters)},
        {"refused_by_reason", {{"no-backend", row.counters.refused_no_backend}}},
    });
  }
  return out;
}

}  // namespace socklb
