#include "desired/endpoint_index.h"

#include <algorithm>

namespace socklb {
namespace {

const EndpointPort* find_port(const std::vector<EndpointPort>& ports, const ServicePort& want) {
  auto it = std::find_if(ports.begin(), ports.end(),
                         [&](const EndpointPort& p) { return p.name == want.name && p.protocol == want.protocol; });
  return it == ports.end() ? nullptr : &*it;
}

Candidate from_endpoint(const SliceEndpoint& ep, uint16_t port) {
  return {ep.address, port, ep.conditions, ep.node_name, ep.zone, ep.hint_zones, ep.hint_nodes};
}

// A named targetPort resolves per pod, so two pods may serve one service
// port on different numbers.
std::optional<uint16_t> pod_target_port(const Pod& pod, const ServicePort& port) {
  if (const auto* number = std::get_if<uint16_t>(&port.target)) return *number;
  const auto& name = std::get<std::string>(port.target);
  for (const auto& cp : pod.ports)
    if (cp.name == name && cp.protocol == port.protocol) return cp.port;
  return std::nullopt;
}

// The hints the EndpointSlice controller would give a pod's endpoint
// (endpointslice/trafficdist: ready endpoints with a node name, for
// PreferSameNode). Its zone hints need the zone of the pod's Node, which
// socklb does not read: a zone preference gives Pods no hints here.
std::optional<std::vector<std::string>> node_hints(const Service& svc, const Pod& pod, bool ready) {
  if (svc.traffic_distribution != TrafficDistribution::PreferSameNode || !ready || pod.node_name.empty())
    return std::nullopt;
  return std::vector<std::string>{pod.node_name};
}

}  // namespace

bool selector_matches(const Labels& selector, const Labels& labels) {
  return std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
    auto it = labels.find(kv.first);
    return it != labels.end() && it->second == kv.second;
  });
}

EndpointIndex::EndpointIndex(const ManifestSet& input) {
  // An FQDN slice is ignored as if absent (kube-proxy does the same): a
  // service with only such slices takes its endpoints from the next source.
  for (const auto& slice : input.slices)
    if (!slice.fqdn) slices_[{slice.meta.ns, slice.service_name}].push_back(&slice);
  for (const auto& ep : input.endpoints) endpoints_[{ep.meta.ns, ep.meta.name}] = &ep;
  for (const auto& pod : input.pods) pods_by_namespace_[pod.meta.ns].push_back(&pod);
}

std::vector<Candidate> EndpointIndex::candidates(const Service& svc, const ServicePort& port, Family family) const {
  std::vector<Candidate> out;
  ServiceRef ref{svc.meta.ns, svc.meta.name};

  if (auto it = slices_.find(ref); it != slices_.end()) {
    for (const auto* slice : it->second) {
      const auto* ep_port = find_port(slice->ports, port);
      if (slice->family != family || !ep_port) continue;
      for (const auto& ep : slice->endpoints) out.push_back(from_endpoint(ep, ep_port->port));
    }
    return out;
  }
  if (auto it = endpoints_.find(ref); it != endpoints_.end()) {
    for (const auto& subset : it->second->subsets) {
      const auto* ep_port = find_port(subset.ports, port);
      if (!ep_port) continue;
      for (const auto& ep : subset.addresses)
        if (ep.address.family() == family) out.push_back(from_endpoint(ep, ep_port->port));
    }
    return out;
  }
  // An empty selector selects nothing: such a service's endpoints are managed by hand.
  if (!svc.selector || svc.selector->empty()) return out;
  auto pods = pods_by_namespace_.find(svc.meta.ns);
  if (pods == pods_by_namespace_.end()) return out;
  for (const auto* pod : pods->second) {
    if (pod->finished || !selector_matches(*svc.selector, pod->meta.labels)) continue;
    auto target = pod_target_port(*pod, port);
    if (!target) continue;
    for (const auto& ip : pod->ips) {
      if (ip.family() != family) continue;
      // As the EndpointSlice controller sets them: serving is the pod's
      // readiness; publishNotReadyAddresses makes every pod ready, even a
      // terminating one.
      bool ready = svc.publish_not_ready || (pod->ready && !pod->meta.deleting);
      EndpointConditions conditions{ready, pod->ready, pod->meta.deleting};
      out.push_back({ip, *target, conditions, pod->node_name, "", std::nullopt, node_hints(svc, *pod, ready)});
    }
  }
  return out;
}

}  // namespace socklb
