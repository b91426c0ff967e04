#pragma once
// What the maps serve, in the shapes the tests compare, all decoded by the
// CLI's service_rows() (cli/services_view.h): one decoder of kernel state for
// `socklb services` and every test.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "maps/kernel_state.h"
#include "desired/service_table.h"

namespace socklb::test {

// What one service entry serves, as a connect() would see it.
struct Served {
  ServiceRef ref;
  std::string port_name;
  uint32_t affinity_timeout_sec = 0;
  bool fallback = false;
  std::vector<Backend> backends;  // every backend entry (listed-only endpoints have none), sorted
  bool slots_match = true;        // the slot set is exactly the entries new connects may use

  bool operator==(const Served&) const = default;
  std::string str() const;
};

using ServedMap = std::map<ServiceKey, Served>;

ServedMap served(const KernelState& k);
// What a desired service looks like once the maps serve it.
Served served(const DesiredService& d);
ServedMap served(const DesiredState& desired);

// "missing ...", "differs ...: got ... want ...", "extra ..." lines; empty when equal.
std::string diff(const ServedMap& got, const ServedMap& want);

// The live set of every service key (what new connects choose from), sorted;
// nullopt where a connect could not use it (its state entry, a slot or a
// backend missing, or a backend of another service).
std::map<ServiceKey, std::optional<std::vector<Backend>>> live_sets(const KernelState& k);

// As a connect sees each key: the "address:port" of its live backends, or
// nullopt where a connect could fail (the ClusterIP's entry missing, or the
// live set unusable or empty). A key not served at all is not in the map.
std::map<ServiceKey, std::optional<std::set<std::string>>> live_addresses(const KernelState& k);

// The short view: "ClusterIP:port/proto ns/name" -> its live backends
// ("10.244.0.1:8080"), sorted.
using ServedBackends = std::map<std::string, std::vector<std::string>>;
ServedBackends served_backends(const MapStore& store);

}  // namespace socklb::test
