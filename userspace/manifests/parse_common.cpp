#include <algorithm>
#include <cctype>

#include "manifests/parse_objects.h"

namespace socklb {
namespace {

// RFC 1123 label, as Kubernetes requires for namespaces and service names;
// both end up in the service_names map, 63 characters at most.
bool is_dns_label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

Labels parse_labels(const Field& field) {
  Labels labels;
  for (const auto& [key, value] : field.entries()) labels[key] = value.str();
  return labels;
}

}  // namespace

ObjectMeta parse_meta(const Field& doc, const std::string& kind, const SourceLocation& where) {
  ObjectMeta meta;
  meta.kind = kind;
  meta.where = where;
  Field metadata = doc["metadata"];
  meta.name = metadata["name"].str();
  meta.ns = metadata["namespace"].str_or("default");
  if (!is_dns_label(meta.ns))
    metadata["namespace"].fail("\"" + meta.ns + "\" is not a valid namespace (lowercase letters, digits and '-', at most 63)");
  if (kind == "Service" && !is_dns_label(meta.name))
    metadata["name"].fail("\"" + meta.name + "\" is not a valid service name (lowercase letters, digits and '-', at most 63)");
  meta.labels = parse_labels(metadata["labels"]);
  meta.deleting = metadata["deletionTimestamp"].present();
  return meta;
}

uint16_t parse_port_number(const Field& field) { return static_cast<uint16_t>(field.integer(1, 65535)); }

Protocol parse_protocol_field(const Field& field) {
  if (!field.present()) return Protocol::TCP;
  std::string text = field.str();
  auto protocol = parse_protocol(text);
  if (!protocol) field.fail("\"" + text + "\" is not a protocol (TCP, UDP or SCTP)");
  return *protocol;
}

IpAddress parse_ip(const Field& field) {
  std::string text = field.str();
  auto ip = IpAddress::parse(text);
  if (!ip) field.fail("\"" + text + "\" is not an IP address");
  return *ip;
}

Diagnostic note(Diagnostic::Severity severity, const ObjectMeta& meta, const Field& field, const std::string& message) {
  return {severity, {meta.where.file, field.line()}, meta.ref(), field.path(), message};
}

std::vector<EndpointPort> parse_endpoint_ports(const Field& ports) {
  std::vector<EndpointPort> out;
  for (const auto& item : ports.items()) {
    // A slice port without a number means "all ports" and is not usable by a
    // proxy; kube-proxy skips it too.
    if (!item["port"].present()) continue;
    EndpointPort port;
    port.name = item["name"].str_or("");
    port.protocol = parse_protocol_field(item["protocol"]);
    port.port = parse_port_number(item["port"]);
    out.push_back(std::move(port));
  }
  return out;
}

}  // namespace socklb
