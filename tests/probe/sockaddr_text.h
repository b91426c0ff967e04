#pragma once
// "10.0.0.1:80" / "[fd00::1]:80" <-> sockaddr_storage, for the probe's
// command line and output.

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>

namespace probe {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family() const { return addr.ss_family; }
};

std::optional<Endpoint> parse_endpoint(const std::string& text);
std::string endpoint_text(const sockaddr_storage& addr);
// An IPv4 endpoint in its v4-mapped IPv6 form, for an AF_INET6 socket.
Endpoint to_v4_mapped(const Endpoint& v4);

}  // namespace probe
