// EndpointSlice (discovery.k8s.io/v1) and the older core/v1 Endpoints.

#include "manifests/parse_objects.h"

namespace socklb {
namespace {

constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";

constexpr const char* kEndpointLeftOut =
    "this endpoint is left out and the service's other endpoints serve: put the pod's IP here";

// hints.forZones / hints.forNodes: [{name: ...}, ...]; nothing when absent.
std::optional<std::vector<std::string>> parse_hint_names(const Field& list) {
  if (!list.present()) return std::nullopt;
  std::vector<std::string> names;
  for (const auto& item : list.items()) names.push_back(item["name"].str());
  return names;
}

// Nothing when the endpoint's address is one no pod can have (reported).
std::optional<SliceEndpoint> parse_slice_endpoint(const Field& item, Family family, const ObjectMeta& meta,
                                                  Diagnostics& notes) {
  SliceEndpoint ep;
  auto addresses = item["addresses"].items();
  if (addresses.empty()) item["addresses"].fail("needs at least one address");
  ep.address = parse_ip(addresses.front());
  if (ep.address.family() != family)
    addresses.front().fail(ep.address.str() + " is not an " + std::string(family_name(family)) + " address");
  Field conditions = item["conditions"];
  ep.conditions.ready = conditions["ready"].boolean_or(true);
  ep.conditions.serving = conditions["serving"].boolean_or(true);
  ep.conditions.terminating = conditions["terminating"].boolean_or(false);
  ep.node_name = item["nodeName"].str_or("");
  ep.zone = item["zone"].str_or("");
  ep.hint_zones = parse_hint_names(item["hints"]["forZones"]);
  ep.hint_nodes = parse_hint_names(item["hints"]["forNodes"]);
  // checked last, so that an endpoint that is also invalid otherwise
  // reports that (and holds its service) like any invalid field
  if (refused_as_endpoint(meta, addresses.front(), ep.address, kEndpointLeftOut, notes)) return std::nullopt;
  return ep;
}

std::optional<SliceEndpoint> parse_address(const Field& item, bool ready, const ObjectMeta& meta, Diagnostics& notes) {
  SliceEndpoint ep;
  ep.address = parse_ip(item["ip"]);
  // core/v1 Endpoints has no serving/terminating: not ready means unusable
  ep.conditions = {ready, ready, false};
  ep.node_name = item["nodeName"].str_or("");
  if (refused_as_endpoint(meta, item["ip"], ep.address, kEndpointLeftOut, notes)) return std::nullopt;
  return ep;
}

}  // namespace

EndpointSlice parse_endpoint_slice(const Field& doc, ObjectMeta meta, Diagnostics& notes) {
  EndpointSlice slice;
  slice.meta = std::move(meta);
  auto label = slice.meta.labels.find(kServiceNameLabel);
  Field address_type = doc["addressType"];
  std::string type = address_type.str();
  if (type == "FQDN") {
    // kube-proxy drops FQDN slices before looking inside them, so nothing in
    // one can affect its service: not even a field that would be invalid in
    // an IP slice.
    slice.fqdn = true;
    if (label != slice.meta.labels.end()) slice.service_name = label->second;
    notes.push_back(note(Diagnostic::Severity::Warning, slice.meta, address_type,
                         "FQDN slices are not proxied (kube-proxy ignores them too): this slice is ignored, and its "
                         "service is served from its IPv4 and IPv6 slices"));
    return slice;
  }
  if (type == "IPv4") slice.family = Family::V4;
  else if (type == "IPv6") slice.family = Family::V6;
  else address_type.fail("\"" + type + "\" is not IPv4, IPv6 or FQDN");
  if (label == slice.meta.labels.end())
    doc["metadata"]["labels"].fail(std::string("the label ") + kServiceNameLabel + " is required to tie the slice to its service");
  slice.service_name = label->second;
  auto items = doc["endpoints"].items();
  slice.endpoints.reserve(items.size());  // no doubling slack: a million of them at 100,000 services
  for (const auto& item : items)
    if (auto ep = parse_slice_endpoint(item, slice.family, slice.meta, notes)) slice.endpoints.push_back(std::move(*ep));
  slice.ports = parse_endpoint_ports(doc["ports"]);
  return slice;
}

Endpoints parse_endpoints(const Field& doc, ObjectMeta meta, Diagnostics& notes) {
  Endpoints endpoints;
  endpoints.meta = std::move(meta);
  for (const auto& subset_field : doc["subsets"].items()) {
    EndpointsSubset subset;
    for (const auto& item : subset_field["addresses"].items())
      if (auto ep = parse_address(item, true, endpoints.meta, notes)) subset.addresses.push_back(std::move(*ep));
    for (const auto& item : subset_field["notReadyAddresses"].items())
      if (auto ep = parse_address(item, false, endpoints.meta, notes)) subset.addresses.push_back(std::move(*ep));
    subset.ports = parse_endpoint_ports(subset_field["ports"]);
    endpoints.subsets.push_back(std::move(subset));
  }
  return endpoints;
}

}  // namespace socklb
