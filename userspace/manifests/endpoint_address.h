#pragma once
// Which addresses can be an endpoint. The API server refuses unspecified,
// loopback, link-local and link-local multicast endpoint addresses
// (ValidateEndpointIP, pkg/apis/core/validation/validation.go), so a manifest
// holding one was never accepted by a cluster: pointing a ClusterIP at
// 127.0.0.1 or at 169.254.169.254 would hand every client the node's own
// processes or the cloud metadata service. socklb refuses every multicast
// address, not only link-local ones: a connection needs one peer, and no pod
// has a multicast address.

#include <optional>
#include <string>

#include "net/ip_address.h"

namespace socklb {

// Why no pod can have `ip` ("is a loopback address (127.0.0.0/8, ::1) ..."),
// or nothing when a pod can.
std::optional<std::string> why_not_a_pod_address(const IpAddress& ip);

}  // namespace socklb
