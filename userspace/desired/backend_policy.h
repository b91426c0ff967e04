#pragma once
// Which endpoints a node proxy may use, as kube-proxy decides it
// (pkg/proxy/topology.go): locality first, then readiness with the
// serving+terminating fallback.

#include <string>
#include <vector>

#include "desired/endpoint_index.h"

namespace socklb {

struct NodeIdentity {
  std::string node_name;  // for internalTrafficPolicy: Local and hints.forNodes
  std::string zone;       // for hints.forZones; empty: zone hints are not used
};

// local_only: internalTrafficPolicy Local. No local endpoint gives no
// backend (the connection fails), never a fall back to remote ones.
std::vector<Backend> usable_backends(std::vector<Candidate> candidates, bool local_only, const NodeIdentity& node);

}  // namespace socklb
