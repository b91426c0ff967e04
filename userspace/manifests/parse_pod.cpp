#include "manifests/parse_objects.h"

namespace socklb {

namespace {

constexpr const char* kPodAddressLeftOut =
    "this address is left out of the endpoints of the services that select the pod (their other endpoints serve): "
    "the pod's IP belongs here";

// In the order they are searched: the first match by name and protocol wins.
void add_ports(const Field& container, std::vector<ContainerPort>& ports) {
  for (const auto& item : container["ports"].items()) {
    ContainerPort port;
    port.name = item["name"].str_or("");
    port.protocol = parse_protocol_field(item["protocol"]);
    port.port = parse_port_number(item["containerPort"]);
    ports.push_back(std::move(port));
  }
}

}  // namespace

Pod parse_pod(const Field& doc, ObjectMeta meta, Diagnostics& notes) {
  Pod pod;
  pod.meta = std::move(meta);
  Field spec = doc["spec"];
  pod.node_name = spec["nodeName"].str_or("");
  // Named ports resolve as the API server's FindPort does: the containers
  // first, then the sidecars (initContainers with restartPolicy Always,
  // which keep running beside them). Any other init container has exited
  // before the pod serves: its ports are not read at all.
  for (const auto& container : spec["containers"].items()) add_ports(container, pod.ports);
  for (const auto& container : spec["initContainers"].items())
    if (container["restartPolicy"].str_or("") == "Always") add_ports(container, pod.ports);
  Field status = doc["status"];
  std::vector<Field> ip_fields;
  for (const auto& item : status["podIPs"].items()) ip_fields.push_back(item["ip"]);
  if (ip_fields.empty() && status["podIP"].present()) ip_fields.push_back(status["podIP"]);
  for (const auto& field : ip_fields) pod.ips.push_back(parse_ip(field));
  if (pod.ips.size() > 2 || (pod.ips.size() == 2 && pod.ips[0].family() == pod.ips[1].family()))
    status["podIPs"].fail("expected at most one address per family");
  // an address no pod can have is left out; the pod's other family still serves
  std::vector<IpAddress> usable;
  for (std::size_t i = 0; i < pod.ips.size(); ++i)
    if (!refused_as_endpoint(pod.meta, ip_fields[i], pod.ips[i], kPodAddressLeftOut, notes)) usable.push_back(pod.ips[i]);
  pod.ips = std::move(usable);
  std::string phase = status["phase"].str_or("Running");
  pod.finished = phase == "Succeeded" || phase == "Failed";
  for (const auto& condition : status["conditions"].items()) {
    if (condition["type"].str() == "Ready") pod.ready = condition["status"].str() == "True";
  }
  return pod;
}

}  // namespace socklb
