#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "manifests/endpoint_address.h"
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

std::string not_an_ip_message(const std::string& text) {
  // IPv6 text for an IPv4 host ("::ffff:127.0.0.1"): Kubernetes writes IPv4
  // addresses as IPv4, and accepting this form would let an IPv4 address
  // pass as IPv6. Naming the IPv4 address tells what to write instead.
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_V4MAPPED(&v6)) {
    char v4[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &v6.s6_addr[12], v4, sizeof(v4));
    return "\"" + text + "\" is not an IP address socklb accepts: it is the IPv4-mapped form of " + v4 + "; write " + v4;
  }
  return "\"" + text + "\" is not an IP address";
}

IpAddress parse_ip(const Field& field) {
  std::string text = field.str();
  auto ip = IpAddress::parse(text);
  if (!ip) field.fail(not_an_ip_message(text));
  return *ip;
}

bool refused_as_endpoint(const ObjectMeta& meta, const Field& field, const IpAddress& ip, const std::string& left_out,
                         Diagnostics& notes) {
  auto why = why_not_a_pod_address(ip);
  if (why) notes.push_back(note(Diagnostic::Severity::Error, meta, field, ip.str() + " " + *why + "; " + left_out));
  return why.has_value();
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
