#include <set>

#include "manifests/parse_objects.h"

namespace socklb {
namespace {

constexpr uint32_t kDefaultAffinityTimeout = 10800;  // Kubernetes' default: 3 hours
constexpr uint32_t kMaxAffinityTimeout = 86400;

bool is_port_name(const std::string& s) {
  // IANA_SVC_NAME: what a named targetPort must look like
  if (s.empty() || s.size() > 15) return false;
  bool has_letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') has_letter = true;
    else if (!(c >= '0' && c <= '9') && c != '-') return false;
  }
  return has_letter && s.front() != '-' && s.back() != '-';
}

std::vector<ServicePort> parse_ports(const Field& ports) {
  std::vector<ServicePort> out;
  std::set<std::string> names;
  std::set<std::pair<uint16_t, Protocol>> numbers;
  auto items = ports.items();
  for (const auto& item : items) {
    ServicePort port;
    port.name = item["name"].str_or("");
    if (port.name.empty() && items.size() > 1) item["name"].fail("is required when a service has several ports");
    if (!names.insert(port.name).second) item["name"].fail("\"" + port.name + "\" is used by another port of this service");
    port.protocol = parse_protocol_field(item["protocol"]);
    port.port = parse_port_number(item["port"]);
    if (!numbers.insert({port.port, port.protocol}).second)
      item["port"].fail(std::to_string(port.port) + "/" + std::string(protocol_name(port.protocol)) +
                        " is defined twice in this service");
    Field target = item["targetPort"];
    if (!target.present()) {
      port.target = port.port;  // Kubernetes defaults targetPort to port
    } else if (target.is_number()) {
      port.target = parse_port_number(target);
    } else {
      std::string name = target.str();
      if (!is_port_name(name)) target.fail("\"" + name + "\" is neither a port number nor a valid port name");
      port.target = name;
    }
    out.push_back(std::move(port));
  }
  return out;
}

std::vector<IpAddress> parse_cluster_ips(const Field& spec, bool& headless) {
  Field single = spec["clusterIP"];
  Field plural = spec["clusterIPs"];
  std::vector<std::string> texts = plural.strings();
  if (texts.empty() && single.present()) texts.push_back(single.str());
  if (single.present() && !texts.empty() && single.str() != texts.front())
    plural.fail("clusterIPs[0] \"" + texts.front() + "\" differs from clusterIP \"" + single.str() + "\"");
  headless = !texts.empty() && texts.front() == "None";
  if (headless || texts.empty() || texts.front().empty()) return {};
  if (texts.size() > 2) plural.fail("has more than one address per family");

  std::vector<IpAddress> ips;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    Field at = plural.present() ? plural.items()[i] : single;
    auto ip = IpAddress::parse(texts[i]);
    if (!ip) at.fail(not_an_ip_message(texts[i]));
    if (!ips.empty() && ips.front().family() == ip->family()) at.fail("two addresses of the same family");
    ips.push_back(*ip);
  }
  auto families = spec["ipFamilies"].items();
  for (std::size_t i = 0; i < families.size() && i < ips.size(); ++i) {
    std::string family = families[i].str();
    if (family != "IPv4" && family != "IPv6") families[i].fail("\"" + family + "\" is not IPv4 or IPv6");
    if (family != family_name(ips[i].family()))
      families[i].fail(family + " does not match clusterIPs[" + std::to_string(i) + "] " + ips[i].str());
  }
  return ips;
}

}  // namespace

Service parse_service(const Field& doc, ObjectMeta meta) {
  Service svc;
  svc.meta = std::move(meta);
  Field spec = doc["spec"];
  std::string type = spec["type"].str_or("ClusterIP");
  if (type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer" && type != "ExternalName")
    spec["type"].fail("\"" + type + "\" is not a service type (ClusterIP, NodePort, LoadBalancer or ExternalName)");
  svc.external_name = type == "ExternalName";
  if (svc.external_name) return svc;  // no ClusterIP, nothing else matters

  svc.cluster_ips = parse_cluster_ips(spec, svc.headless);
  svc.ports = parse_ports(spec["ports"]);
  if (spec["selector"].present()) {
    Labels selector;
    for (const auto& [key, value] : spec["selector"].entries()) selector[key] = value.str();
    svc.selector = std::move(selector);
  }
  std::string affinity = spec["sessionAffinity"].str_or("None");
  if (affinity != "None" && affinity != "ClientIP")
    spec["sessionAffinity"].fail("\"" + affinity + "\" is not None or ClientIP");
  if (affinity == "ClientIP") {
    Field timeout = spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"];
    svc.affinity_timeout_sec = timeout.present() ? static_cast<uint32_t>(timeout.integer(1, kMaxAffinityTimeout))
                                                 : kDefaultAffinityTimeout;
  }
  std::string itp = spec["internalTrafficPolicy"].str_or("Cluster");
  if (itp != "Cluster" && itp != "Local")
    spec["internalTrafficPolicy"].fail("\"" + itp + "\" is not Cluster or Local");
  svc.internal_traffic_local = itp == "Local";
  std::string distribution = spec["trafficDistribution"].str_or("");
  if (distribution == "PreferClose" || distribution == "PreferSameZone")
    svc.traffic_distribution = TrafficDistribution::PreferSameZone;
  else if (distribution == "PreferSameNode")
    svc.traffic_distribution = TrafficDistribution::PreferSameNode;
  else if (!distribution.empty())
    spec["trafficDistribution"].fail("\"" + distribution + "\" is not PreferClose, PreferSameZone or PreferSameNode");
  svc.publish_not_ready = spec["publishNotReadyAddresses"].boolean_or(false);
  return svc;
}

}  // namespace socklb
