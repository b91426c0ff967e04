#include "status/datapath_counters.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "maps/map_codec.h"

namespace socklb {

DatapathCounters read_datapath_counters(const MapStore& maps, bool per_service) {
  DatapathCounters out;
  for (const auto& [key, value] : maps.dump(MapId::Totals)) out.totals = from_bytes<socklb_totals>(value);
  if (!per_service) return out;
  // only the three maps a series needs, not the whole kernel state
  std::map<uint32_t, socklb_service_name> names;
  for (const auto& [key, value] : maps.dump(MapId::ServiceNames))
    names[from_bytes<uint32_t>(key)] = from_bytes<socklb_service_name>(value);
  std::map<uint32_t, ServiceKey> keys;
  std::vector<Bytes> ids;
  for (const auto& [key, value] : maps.dump(MapId::ServiceState)) {
    keys[from_bytes<uint32_t>(key)] = state_key(from_bytes<socklb_service_state>(value));
    ids.push_back(key);
  }
  std::map<uint32_t, socklb_service_counters> counters;
  for (const auto& [key, value] : maps.lookup(MapId::ServiceCounters, ids))
    counters[from_bytes<uint32_t>(key)] = from_bytes<socklb_service_counters>(value);
  for (const auto& [id, key] : keys) {
    ServiceCounterSeries s;
    if (auto n = names.find(id); n != names.end()) {
      s.ns = name_field(n->second.ns, sizeof(n->second.ns));
      s.name = name_field(n->second.name, sizeof(n->second.name));
      s.port_name = name_field(n->second.port_name, sizeof(n->second.port_name));
    }
    s.cluster_ip = key.vip.str();
    s.port = key.port;
    s.protocol = std::string(protocol_name(key.protocol));
    if (auto c = counters.find(id); c != counters.end()) s.counters = c->second;
    out.services.push_back(std::move(s));
  }
  std::sort(out.services.begin(), out.services.end(), [](const auto& a, const auto& b) {
    return std::tie(a.ns, a.name, a.port_name, a.cluster_ip, a.port, a.protocol) <
           std::tie(b.ns, b.name, b.port_name, b.cluster_ip, b.port, b.protocol);
  });
  return out;
}

}  // namespace socklb
