#include "cli/services_view.h"

#include <algorithm>

#include <fmt/format.h>

namespace socklb {
namespace {

std::string state_name(BackendState state) { return state == BackendState::Active ? "active" : "terminating"; }

std::string service_label(const ServiceRow& row) {
  std::string label = row.ref.ns.empty() ? "?" : row.ref.str();
  return row.port_name.empty() ? label : label + ":" + row.port_name;
}

}  // namespace

std::vector<ServiceRow> service_rows(const KernelState& state) {
  std::vector<ServiceRow> rows;
  for (const auto& [key, value] : state.services) {
    ServiceRow row;
    row.key = key;
    row.id = value.id;
    row.ref = state.owner(value.id);
    if (auto name = state.names.find(value.id); name != state.names.end())
      row.port_name = name_field(name->second.port_name, sizeof(name->second.port_name));
    row.affinity_timeout_sec = (value.flags & SOCKLB_SERVICE_AFFINITY) ? value.affinity_timeout_sec : 0;
    row.fallback = value.flags & SOCKLB_SERVICE_FALLBACK;
    auto ids = state.live_backend_ids(value);
    row.incomplete = !ids;
    for (uint32_t id : ids.value_or(std::vector<uint32_t>{})) {
      auto backend = state.backends.find(id);
      if (backend == state.backends.end()) row.incomplete = true;
      else row.backends.emplace_back(id, decode_backend(backend->second));
    }
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end(), [](const ServiceRow& a, const ServiceRow& b) {
    return std::tie(a.ref, a.port_name, a.key) < std::tie(b.ref, b.port_name, b.key);
  });
  return rows;
}

std::string render_table(const std::vector<ServiceRow>& rows) {
  if (rows.empty()) return "no services are served\n";
  std::size_t w_service = 7, w_vip = 9;
  for (const auto& row : rows) {
    w_service = std::max(w_service, service_label(row).size());
    w_vip = std::max(w_vip, row.key.vip.str().size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:>5}  {:<5}  {:<9}  {}\n", "SERVICE", w_service, "CLUSTERIP", w_vip,
                                "PORT", "PROTO", "AFFINITY", "BACKENDS");
  for (const auto& row : rows) {
    std::string backends;
    for (const auto& [id, b] : row.backends)
      backends += (backends.empty() ? "" : " ") + b.str() + (b.state == BackendState::Active ? "" : "(terminating)");
    if (row.backends.empty()) backends = "none: connections are refused";
    if (row.incomplete) backends += " [incomplete]";
    std::string affinity = row.affinity_timeout_sec ? fmt::format("{}s", row.affinity_timeout_sec) : "-";
    out += fmt::format("{:<{}}  {:<{}}  {:>5}  {:<5}  {:<9}  {}\n", service_label(row), w_service, row.key.vip.str(),
                       w_vip, row.key.port, protocol_name(row.key.protocol), affinity, backends);
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
    });
  }
  return out;
}

}  // namespace socklb
