#include "served.h"

#include <algorithm>

#include "cli/services_view.h"

namespace socklb::test {
namespace {

std::string state_tag(BackendState state) {
  switch (state) {
    case BackendState::Active: return "";
    case BackendState::Terminating: return "(t)";
    case BackendState::Serving: return "(s)";
    case BackendState::Listed: return "(l)";
  }
  return "?";
}

std::vector<Backend> sorted(std::vector<std::pair<uint32_t, Backend>>::const_iterator begin,
                            std::vector<std::pair<uint32_t, Backend>>::const_iterator end) {
  std::vector<Backend> out;
  for (auto it = begin; it != end; ++it) out.push_back(it->second);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Backend> live_of(const ServiceRow& row) {
  return sorted(row.backends.begin(), row.backends.begin() + static_cast<std::ptrdiff_t>(row.live));
}

}  // namespace

std::string Served::str() const {
  std::string out = ref.str() + ":" + port_name + " affinity=" + std::to_string(affinity_timeout_sec) +
                    (fallback ? " fallback" : "") + (slots_match ? "" : " SLOTS-DIFFER") + " [";
  for (const auto& b : backends) out += b.str() + state_tag(b.state) + " ";
  return out + "]";
}

ServedMap served(const KernelState& k) {
  ServedMap out;
  for (const ServiceRow& row : service_rows(k)) {
    Served s;
    s.ref = row.ref;
    s.port_name = row.port_name;
    s.affinity_timeout_sec = row.affinity_timeout_sec;
    s.fallback = row.fallback;
    s.backends = sorted(row.entries.begin(), row.entries.end());
    std::vector<Backend> chosen;
    for (const auto& b : s.backends)
      if (chosen_for_new_connects(b.state)) chosen.push_back(b);
    s.slots_match = !row.incomplete && live_of(row) == chosen;
    out[row.key] = std::move(s);
  }
  return out;
}

Served served(const DesiredService& d) {
  std::vector<Backend> entries;
  for (const auto& b : d.backends)
    if (b.state != BackendState::Listed) entries.push_back(b);
  bool any_chosen = std::any_of(entries.begin(), entries.end(), [](const Backend& b) { return chosen_for_new_connects(b.state); });
  bool fallback = any_chosen && std::none_of(entries.begin(), entries.end(), [](const Backend& b) {
    return b.state == BackendState::Active;
  });
  return {d.ref, d.port_name, d.affinity_timeout_sec, fallback, entries, true};
}

ServedMap served(const DesiredState& desired) {
  ServedMap out;
  for (const auto& [key, d] : desired.services) out[key] = served(d);
  return out;
}

std::string diff(const ServedMap& got, const ServedMap& want) {
  std::string out;
  for (const auto& [k, s] : want)
    if (!got.count(k)) out += "missing " + k.str() + " " + s.str() + "\n";
    else if (!(got.at(k) == s)) out += "differs " + k.str() + ": got " + got.at(k).str() + " want " + s.str() + "\n";
  for (const auto& [k, s] : got)
    if (!want.count(k)) out += "extra " + k.str() + " " + s.str() + "\n";
  return out;
}

std::map<ServiceKey, std::optional<std::vector<Backend>>> live_sets(const KernelState& k) {
  std::map<ServiceKey, std::optional<std::vector<Backend>>> out;
  for (const ServiceRow& row : service_rows(k))
    out[row.key] = row.incomplete ? std::nullopt : std::optional(live_of(row));
  return out;
}

std::map<ServiceKey, std::optional<std::set<std::string>>> live_addresses(const KernelState& k) {
  std::map<ServiceKey, std::optional<std::set<std::string>>> out;
  for (const ServiceRow& row : service_rows(k)) {
    auto& addresses = out[row.key];
    if (row.incomplete || !row.reachable || row.live == 0) continue;  // nullopt: a connect could fail
    addresses.emplace();
    for (std::size_t i = 0; i < row.live; ++i) addresses->insert(row.backends[i].second.str());
  }
  return out;
}

ServedBackends served_backends(const MapStore& store) {
  ServedBackends out;
  for (const ServiceRow& row : service_rows(read_kernel_state(store))) {
    std::vector<std::string> backends;
    for (const auto& b : live_of(row)) backends.push_back(b.str());
    std::sort(backends.begin(), backends.end());
    out[row.key.str() + " " + row.ref.str()] = backends;
  }
  return out;
}

}  // namespace socklb::test
