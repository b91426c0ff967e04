#include "sockaddr_text.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>

namespace probe {

std::optional<Endpoint> parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  int port = std::atoi(text.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return std::nullopt;
  Endpoint ep;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) != 1) return std::nullopt;
    ep.len = sizeof(sockaddr_in6);
    return ep;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ep.addr);
  a4->sin_family = AF_INET;
  a4->sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    ep.len = sizeof(sockaddr_in);
    return ep;
  }
  // A name: resolved by the resolver of where the probe runs (under
  // `ip netns exec`, the namespace's own /etc/netns/NAME/resolv.conf).
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (host.empty() || getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || !found) return std::nullopt;
  std::memcpy(&ep.addr, found->ai_addr, found->ai_addrlen);
  ep.len = found->ai_addrlen;
  if (found->ai_family == AF_INET) reinterpret_cast<sockaddr_in*>(&ep.addr)->sin_port = htons(port);
  else reinterpret_cast<sockaddr_in6*>(&ep.addr)->sin6_port = htons(port);
  freeaddrinfo(found);
  return ep;
}

std::string endpoint_text(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* a4 = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a4->sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(ntohs(a4->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof(buf));
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a6->sin6_port));
  }
  return "?";
}

Endpoint to_v4_mapped(const Endpoint& v4) {
  const auto* a4 = reinterpret_cast<const sockaddr_in*>(&v4.addr);
  Endpoint out;
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
  a6->sin6_family = AF_INET6;
  a6->sin6_port = a4->sin_port;
  a6->sin6_addr.s6_addr[10] = 0xff;
  a6->sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&a6->sin6_addr.s6_addr[12], &a4->sin_addr, 4);
  out.len = sizeof(sockaddr_in6);
  return out;
}

}  // namespace probe
