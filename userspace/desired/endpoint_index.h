#pragma once
// Where the endpoints of a service come from, in the order Kubernetes would
// have them: its EndpointSlices, else its core/v1 Endpoints, else the Pods its
// selector matches (the endpoint controller's job, done locally).

#include <map>
#include <string>
#include <vector>

#include "model/service.h"
#include "store/object_store.h"

namespace socklb {

struct Candidate {
  IpAddress ip;
  uint16_t port = 0;
  EndpointConditions conditions;
  std::string node_name;
  std::string zone;
  std::optional<std::vector<std::string>> hint_zones;
  std::optional<std::vector<std::string>> hint_nodes;
};

// The endpoints of one service port in one family, before any filtering.
std::vector<Candidate> candidates(const ObjectStore& store, const Service& svc, const ServicePort& port, Family family);

}  // namespace socklb
