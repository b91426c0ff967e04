#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "manifests/objects.h"

namespace socklb {

// Everything read from the manifests in one pass: the valid objects, what
// was broken, and the messages for the operator.
struct ManifestSet {
  std::vector<Service> services;
  std::vector<EndpointSlice> slices;
  std::vector<Endpoints> endpoints;
  std::vector<Pod> pods;
  std::vector<BrokenObject> broken;
  // Some input could not be read at all and its previous content is
  // unknown: no service may be removed until it reads again.
  bool hold_everything = false;
  Diagnostics diagnostics;
  std::size_t files = 0;
  std::map<std::string, int> ignored_kinds;  // kinds socklb does not use, with counts

  void append(ManifestSet&& other);
};

}  // namespace socklb
