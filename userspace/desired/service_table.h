#pragma once
// The desired state: for every ClusterIP:port/protocol, the backends that
// should serve it now. Built from the manifests by reconcile(), compared
// with the kernel by the planner.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "manifests/diagnostic.h"
#include "model/service.h"

namespace socklb {

struct DesiredService {
  ServiceRef ref;
  std::string port_name;
  uint32_t affinity_timeout_sec = 0;  // 0: no session affinity
  // Every endpoint the service lists (each address:port once), sorted, with
  // what it may be used for; none chosen for new connects means they are refused.
  std::vector<Backend> backends;
  SourceLocation where;               // of the Service, for errors about it
};

struct DesiredState {
  std::map<ServiceKey, DesiredService> services;
  // Services whose input is broken: whatever the kernel serves for them stays.
  // Services whose input is broken, or that were refused: whatever the
  // kernel serves for them stays.
  std::set<ServiceRef> held;
  bool hold_everything = false;
  Diagnostics diagnostics;

  // What the kernel serves for it must stay if it is not desired now.
  bool is_held(const ServiceRef& ref) const { return hold_everything || held.count(ref) > 0; }
};

}  // namespace socklb
