#pragma once
// IPv4 "address:port" parsing and the socket calls both bench programs share.
#include <netinet/in.h>

#include <string>

namespace bench {

// Parses "10.244.0.11:8080"; throws std::invalid_argument naming the bad text.
sockaddr_in parse_endpoint(const std::string& text);

// A non-blocking TCP socket (SOCK_NONBLOCK | SOCK_CLOEXEC); throws on failure.
int nonblocking_tcp_socket();

// Sets TCP_NODELAY: request/reply traffic must not wait for Nagle.
void set_nodelay(int fd);

// Throws std::system_error with `what` and errno.
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace bench
