#pragma once
// One parser per supported kind. Each takes a document already classified by
// apiVersion/kind and returns the typed object or throws FieldError.

#include "manifests/objects.h"
#include "manifests/yaml_field.h"

namespace socklb {

ObjectMeta parse_meta(const Field& doc, const std::string& kind, const SourceLocation& where);

Service parse_service(const Field& doc, ObjectMeta meta);
EndpointSlice parse_endpoint_slice(const Field& doc, ObjectMeta meta);
Endpoints parse_endpoints(const Field& doc, ObjectMeta meta);
Pod parse_pod(const Field& doc, ObjectMeta meta);

// Shared field rules.
uint16_t parse_port_number(const Field& field);
Protocol parse_protocol_field(const Field& field);  // absent means TCP
IpAddress parse_ip(const Field& field);
std::vector<EndpointPort> parse_endpoint_ports(const Field& ports);

}  // namespace socklb
