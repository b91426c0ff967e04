#include "manifests/parse_objects.h"

namespace socklb {

Pod parse_pod(const Field& doc, ObjectMeta meta, Diagnostics& /*notes*/) {
  Pod pod;
  pod.meta = std::move(meta);
  Field spec = doc["spec"];
  pod.node_name = spec["nodeName"].str_or("");
  for (const auto& container : spec["containers"].items()) {
    for (const auto& item : container["ports"].items()) {
      ContainerPort port;
      port.name = item["name"].str_or("");
      port.protocol = parse_protocol_field(item["protocol"]);
      port.port = parse_port_number(item["containerPort"]);
      pod.ports.push_back(std::move(port));
    }
  }
  Field status = doc["status"];
  for (const auto& item : status["podIPs"].items()) pod.ips.push_back(parse_ip(item["ip"]));
  if (pod.ips.empty() && status["podIP"].present()) pod.ips.push_back(parse_ip(status["podIP"]));
  if (pod.ips.size() > 2 || (pod.ips.size() == 2 && pod.ips[0].family() == pod.ips[1].family()))
    status["podIPs"].fail("expected at most one address per family");
  std::string phase = status["phase"].str_or("Running");
  pod.finished = phase == "Succeeded" || phase == "Failed";
  for (const auto& condition : status["conditions"].items()) {
    if (condition["type"].str() == "Ready") pod.ready = condition["status"].str() == "True";
  }
  return pod;
}

}  // namespace socklb
