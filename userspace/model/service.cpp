#include "model/service.h"

namespace socklb {
namespace {

std::string endpoint_str(const IpAddress& ip, uint16_t port) {
  return ip.is_v4() ? ip.str() + ":" + std::to_string(port) : "[" + ip.str() + "]:" + std::to_string(port);
}

}  // namespace

std::string ServiceKey::str() const {
  return endpoint_str(vip, port) + "/" + std::string(protocol_name(protocol));
}

std::string Backend::str() const { return endpoint_str(ip, port); }

}  // namespace socklb
