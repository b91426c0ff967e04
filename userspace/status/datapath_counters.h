#pragma once
// What the programs counted (service_counters, totals), read from the maps
// for /metrics at scrape time. The totals are one per-CPU entry, so a scrape
// costs the same at 10 services or 100,000; per-service series cost a read of
// every service's state, name and counters and are only made when asked for.

#include <string>
#include <vector>

#include "maps/map_store.h"

namespace socklb {

struct ServiceCounterSeries {
  std::string ns, name, port_name;  // empty when its name entry is missing
  std::string cluster_ip;           // "10.96.0.10", "fd00::a"
  uint16_t port = 0;
  std::string protocol;  // "TCP", "UDP"
  socklb_service_counters counters{};
};

struct DatapathCounters {
  socklb_totals totals{};
  std::vector<ServiceCounterSeries> services;  // sorted by service, then ClusterIP:port
};

DatapathCounters read_datapath_counters(const MapStore& maps, bool per_service);

}  // namespace socklb
