#include "endpoint.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace bench {

sockaddr_in parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("expected ADDRESS:PORT, got \"" + text + "\"");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &sa.sin_addr) != 1)
    throw std::invalid_argument("not an IPv4 address in \"" + text + "\"");
  int port = std::stoi(text.substr(colon + 1));
  if (port <= 0 || port > 65535) throw std::invalid_argument("port out of range in \"" + text + "\"");
  sa.sin_port = htons(static_cast<uint16_t>(port));
  return sa;
}

int nonblocking_tcp_socket() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket(AF_INET, SOCK_STREAM)");
  return fd;
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace bench
