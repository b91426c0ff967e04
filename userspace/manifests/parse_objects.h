#pragma once
// One parser per supported kind. Each takes a document already classified by
// apiVersion/kind and returns the typed object or throws FieldError.
//
// `notes` takes what a parser leaves out of an object it still returns (an
// FQDN slice's content, an endpoint address no pod can have): the rest of
// the object is used, so its service is not held for it.

#include "manifests/objects.h"
#include "manifests/yaml_field.h"

namespace socklb {

ObjectMeta parse_meta(const Field& doc, const std::string& kind, const SourceLocation& where);

Service parse_service(const Field& doc, ObjectMeta meta);
EndpointSlice parse_endpoint_slice(const Field& doc, ObjectMeta meta, Diagnostics& notes);
Endpoints parse_endpoints(const Field& doc, ObjectMeta meta, Diagnostics& notes);
Pod parse_pod(const Field& doc, ObjectMeta meta, Diagnostics& notes);

// Shared field rules.
uint16_t parse_port_number(const Field& field);
Protocol parse_protocol_field(const Field& field);  // absent means TCP
IpAddress parse_ip(const Field& field);
std::string not_an_ip_message(const std::string& text);  // for a text IpAddress::parse refused
std::vector<EndpointPort> parse_endpoint_ports(const Field& ports);

// A note about `field` of the object `meta`, located like a FieldError.
Diagnostic note(Diagnostic::Severity severity, const ObjectMeta& meta, const Field& field, const std::string& message);

// True when no pod can have `ip` (endpoint_address.h): then an error naming
// `field`, the reason and `left_out` (what happens to it and the fix) is
// added to `notes`, and the caller leaves the address out.
bool refused_as_endpoint(const ObjectMeta& meta, const Field& field, const IpAddress& ip, const std::string& left_out,
                         Diagnostics& notes);

}  // namespace socklb
