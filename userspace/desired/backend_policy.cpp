#include "desired/backend_policy.h"

#include <algorithm>
#include <set>

namespace socklb {
namespace {

bool hinted_for(const Candidate& c, const std::string& zone) {
  return c.hint_zones && std::find(c.hint_zones->begin(), c.hint_zones->end(), zone) != c.hint_zones->end();
}

// Hints are honoured only when every ready endpoint carries them (an empty
// forZones list is none) and at least one ready endpoint is meant for this
// zone; otherwise the whole set is used.
std::vector<Candidate> apply_topology(std::vector<Candidate> candidates, const std::string& zone) {
  if (zone.empty()) return candidates;
  bool all_hinted = std::all_of(candidates.begin(), candidates.end(), [](const Candidate& c) {
    return !c.conditions.ready || (c.hint_zones && !c.hint_zones->empty());
  });
  bool any_here = std::any_of(candidates.begin(), candidates.end(),
                              [&](const Candidate& c) { return c.conditions.ready && hinted_for(c, zone); });
  if (!all_hinted || !any_here) return candidates;
  std::erase_if(candidates, [&](const Candidate& c) { return !hinted_for(c, zone); });
  return candidates;
}

}  // namespace

std::vector<Backend> usable_backends(std::vector<Candidate> candidates, bool local_only, const NodeIdentity& node) {
  // kube-proxy uses an address once, whichever slice lists it first
  std::set<std::pair<IpAddress, uint16_t>> seen;
  std::erase_if(candidates, [&](const Candidate& c) { return !seen.insert({c.ip, c.port}).second; });

  if (local_only)
    std::erase_if(candidates, [&](const Candidate& c) { return c.node_name != node.node_name; });
  else
    candidates = apply_topology(std::move(candidates), node.zone);

  std::vector<Backend> backends;
  for (const auto& c : candidates)
    if (c.conditions.ready) backends.push_back({c.ip, c.port, BackendState::Active});
  if (backends.empty()) {
    for (const auto& c : candidates)
      if (c.conditions.serving && c.conditions.terminating) backends.push_back({c.ip, c.port, BackendState::Terminating});
  }
  std::sort(backends.begin(), backends.end());
  return backends;
}

}  // namespace socklb
