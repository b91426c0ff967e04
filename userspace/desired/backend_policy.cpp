#include "desired/backend_policy.h"

#include <algorithm>
#include <set>

namespace socklb {
namespace {

using Hints = std::optional<std::vector<std::string>>;

bool has_hints(const Hints& hints) { return hints && !hints->empty(); }  // an empty list is none
bool hinted_for(const Hints& hints, const std::string& name) {
  return hints && std::find(hints->begin(), hints->end(), name) != hints->end();
}

enum class Topology { All, SameNode, SameZone };

// kube-proxy's topologyModeFromHints (pkg/proxy/topology.go), judged over the
// ready endpoints only: this node's endpoints when every one of them has node
// hints and one is for this node; else this zone's, alike; else all. Only
// hints count, never the Service's trafficDistribution.
Topology topology_from_hints(const std::vector<Candidate>& candidates, const NodeIdentity& node) {
  bool any_ready = false, all_node_hinted = true, any_here = false, all_zone_hinted = true, any_in_zone = false;
  for (const auto& c : candidates) {
    if (!c.conditions.ready) continue;
    any_ready = true;
    all_node_hinted = all_node_hinted && has_hints(c.hint_nodes);
    any_here = any_here || hinted_for(c.hint_nodes, node.node_name);
    all_zone_hinted = all_zone_hinted && has_hints(c.hint_zones);
    any_in_zone = any_in_zone || hinted_for(c.hint_zones, node.zone);
  }
  if (!any_ready) return Topology::All;  // the serving+terminating fallback ignores topology
  if (all_node_hinted && any_here && !node.node_name.empty()) return Topology::SameNode;
  if (all_zone_hinted && any_in_zone && !node.zone.empty()) return Topology::SameZone;
  return Topology::All;
}

// Filtering cannot leave no ready endpoint: a mode is chosen only when a
// ready endpoint is hinted for here.
std::vector<Candidate> apply_topology(std::vector<Candidate> candidates, const NodeIdentity& node) {
  switch (topology_from_hints(candidates, node)) {
    case Topology::SameNode:
      std::erase_if(candidates, [&](const Candidate& c) { return !hinted_for(c.hint_nodes, node.node_name); });
      break;
    case Topology::SameZone:
      std::erase_if(candidates, [&](const Candidate& c) { return !hinted_for(c.hint_zones, node.zone); });
      break;
    case Topology::All:
      break;
  }
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
    candidates = apply_topology(std::move(candidates), node);

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
