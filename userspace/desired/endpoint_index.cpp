#include "desired/endpoint_index.h"

#include <algorithm>
#include <tuple>

namespace socklb {
namespace {

const EndpointPort* find_port(const std::vector<EndpointPort>& ports, const ServicePort& want) {
  auto it = std::find_if(ports.begin(), ports.end(),
                         [&](const EndpointPort& p) { return p.name == want.name && p.protocol == want.protocol; });
  return it == ports.end() ? nullptr : &*it;
}

Candidate from_endpoint(const SliceEndpoint& ep, uint16_t port) {
  return {ep.address, port, ep.conditions, ep.node_name, ep.zone, ep.hint_zones.optional(), ep.hint_nodes.optional()};
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

std::vector<Candidate> candidates(const ObjectStore& store, const Service& svc, const ServicePort& port, Family family) {
  std::vector<Candidate> out;
  ServiceRef ref{svc.meta.ns, svc.meta.name};

  // An FQDN slice is ignored as if absent (kube-proxy does the same): a
  // service with only such slices takes its endpoints from the next source.
  const auto& slices = store.slices(ref);
  if (std::any_of(slices.begin(), slices.end(), [](const auto& s) { return !s.object->fqdn; })) {
    // in name order (then by source), so the first listing of an address
    // is the same whatever order the slices arrived in
    std::vector<const Instance<EndpointSlice>*> sorted;
    for (const auto& instance : slices) sorted.push_back(&instance);
    std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
      return std::tie(a->object->meta.name, a->origin) < std::tie(b->object->meta.name, b->origin);
    });
    for (const auto* instance : sorted) {
      const EndpointSlice& slice = *instance->object;
      const auto* ep_port = find_port(slice.ports, port);
      if (slice.fqdn || slice.family != family || !ep_port) continue;
      for (const auto& ep : slice.endpoints) out.push_back(from_endpoint(ep, ep_port->port));
    }
    return out;
  }
  if (const auto& endpoints = store.endpoints(ref); !endpoints.empty()) {
    // defined by two sources: the first source's
    const auto& first = *std::min_element(endpoints.begin(), endpoints.end(),
                                          [](const auto& a, const auto& b) { return a.origin < b.origin; });
    for (const auto& subset : first.object->subsets) {
      const auto* ep_port = find_port(subset.ports, port);
      if (!ep_port) continue;
      for (const auto& ep : subset.addresses)
        if (ep.address.family() == family) out.push_back(from_endpoint(ep, ep_port->port));
    }
    return out;
  }
  // An empty selector selects nothing: such a service's endpoints are managed by hand.
  if (!svc.selector || svc.selector->empty()) return out;
  for (const auto& [_, pod] : store.pods(svc.meta.ns)) {
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
