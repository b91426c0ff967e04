#include "manifests/endpoint_address.h"

#include <algorithm>

namespace socklb {
namespace {

using Bytes = std::array<uint8_t, 16>;

bool zero(const Bytes& b, std::size_t from, std::size_t to) {
  return std::all_of(b.begin() + from, b.begin() + to, [](uint8_t x) { return x == 0; });
}

// An IPv4 address is held in its IPv4-mapped form: its octets are b[12..15].
bool unspecified(const IpAddress& ip, const Bytes& b) { return ip.is_v4() ? zero(b, 12, 16) : zero(b, 0, 16); }
bool loopback(const IpAddress& ip, const Bytes& b) { return ip.is_v4() ? b[12] == 127 : zero(b, 0, 15) && b[15] == 1; }
bool link_local(const IpAddress& ip, const Bytes& b) {
  return ip.is_v4() ? b[12] == 169 && b[13] == 254 : b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}
bool multicast(const IpAddress& ip, const Bytes& b) { return ip.is_v4() ? (b[12] & 0xf0) == 0xe0 : b[0] == 0xff; }

}  // namespace

std::optional<std::string> why_not_a_pod_address(const IpAddress& ip) {
  const Bytes& b = ip.bytes();
  if (unspecified(ip, b)) return "is the unspecified address, which names no host at all";
  if (loopback(ip, b))
    return "is a loopback address (127.0.0.0/8, ::1), which would reach a process on the client's own node, not a pod";
  if (link_local(ip, b))
    return "is a link-local address (169.254.0.0/16, fe80::/10), which belongs to the node (169.254.169.254 is the "
           "cloud metadata service), not to a pod";
  if (multicast(ip, b))
    return "is a multicast address (224.0.0.0/4, ff00::/8): a connection needs one peer, and no pod has such an address";
  return std::nullopt;
}

}  // namespace socklb
