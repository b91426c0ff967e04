#pragma once
// Where the endpoints of a service come from, in the order Kubernetes would
// have them: its EndpointSlices, else its core/v1 Endpoints, else the Pods its
// selector matches (the endpoint controller's job, done locally).

#include <map>
#include <string>
#include <vector>

#include "desired/service_table.h"
#include "manifests/manifest_set.h"

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

bool selector_matches(const Labels& selector, const Labels& labels);

class EndpointIndex {
 public:
  explicit EndpointIndex(const ManifestSet& input);

  // The endpoints of one service port in one family, before any filtering.
  std::vector<Candidate> candidates(const Service& svc, const ServicePort& port, Family family) const;

 private:
  std::map<ServiceRef, std::vector<const EndpointSlice*>> slices_;
  std::map<ServiceRef, const Endpoints*> endpoints_;
  std::map<std::string, std::vector<const Pod*>> pods_by_namespace_;
};

}  // namespace socklb
