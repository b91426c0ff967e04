// socklb-bench-server: the backend "pod" of the benchmarks. One thread, one
// epoll, no framework, so every mode is measured against the same cheap server.
//   --rr ADDR:PORT    every --request-size bytes received are answered with
//                     --response-size bytes that start with --label (the load
//                     generator counts which pod answered)
//   --sink ADDR:PORT  reads and discards (STREAM throughput)
// Prints "ready" once listening; runs until killed.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "endpoint.h"

namespace {

enum class Kind : uint8_t { rr_listener, sink_listener, rr_conn, sink_conn };

struct Conn {
  Kind kind;
  size_t pending = 0;  // bytes of the current request received so far
};

int listen_on(const std::string& text) {
  sockaddr_in sa = bench::parse_endpoint(text);
  int fd = bench::nonblocking_tcp_socket();
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) bench::throw_errno("bind " + text);
  if (listen(fd, 4096) < 0) bench::throw_errno("listen " + text);
  return fd;
}

class Server {
 public:
  Server(size_t request_size, std::string response) : request_size_(request_size), response_(std::move(response)) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) bench::throw_errno("epoll_create1");
  }

  void add(int fd, Kind kind) {
    conns_[fd] = Conn{kind};
    epoll_event ev{EPOLLIN, {.fd = fd}};
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) < 0) bench::throw_errno("epoll_ctl ADD");
  }

  [[noreturn]] void run() {
    std::vector<epoll_event> events(256);
    for (;;) {
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), -1);
      for (int i = 0; i < n; ++i) handle(events[i].data.fd);
    }
  }

 private:
  void handle(int fd) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    Kind kind = it->second.kind;
    if (kind == Kind::rr_listener || kind == Kind::sink_listener) {
      for (int c; (c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
        bench::set_nodelay(c);
        add(c, kind == Kind::rr_listener ? Kind::rr_conn : Kind::sink_conn);
      }
      return;
    }
    ssize_t got = read(fd, buffer_, sizeof buffer_);
    if (got <= 0) {
      if (got < 0 && errno == EAGAIN) return;
      close_conn(fd);
      return;
    }
    if (kind == Kind::sink_conn) return;
    Conn& conn = it->second;
    conn.pending += static_cast<size_t>(got);
    while (conn.pending >= request_size_) {
      conn.pending -= request_size_;
      // Replies are small and the client waits for each before sending the
      // next request, so a short write means the client is gone.
      if (send(fd, response_.data(), response_.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(response_.size())) {
        close_conn(fd);
        return;
      }
    }
  }

  void close_conn(int fd) {
    conns_.erase(fd);
    close(fd);  // also removes it from the epoll set
  }

  int epoll_;
  size_t request_size_;
  std::string response_;
  std::unordered_map<int, Conn> conns_;
  char buffer_[1 << 16];
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"socklb-bench-server: the backend of the socklb benchmarks"};
  std::vector<std::string> rr, sink;
  std::string label = "pod";
  size_t request_size = 64, response_size = 64;
  app.add_option("--rr", rr, "ADDR:PORT answering requests");
  app.add_option("--sink", sink, "ADDR:PORT discarding what it reads");
  app.add_option("--label", label, "first bytes of every response (the pod's name)");
  app.add_option("--request-size", request_size, "bytes per request")->check(CLI::Range(1, 1 << 20));
  app.add_option("--response-size", response_size, "bytes per response")->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);
  if (rr.empty() && sink.empty()) {
    std::fprintf(stderr, "bench-server: give at least one --rr or --sink ADDR:PORT\n");
    return 2;
  }
  std::string response = label + " ";
  response.resize(std::max(response_size, response.size()), '.');
  try {
    auto server = std::make_unique<Server>(request_size, response);
    for (auto& e : rr) server->add(listen_on(e), Kind::rr_listener);
    for (auto& e : sink) server->add(listen_on(e), Kind::sink_listener);
    std::printf("ready\n");
    std::fflush(stdout);
    server->run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-server: %s\n", e.what());
    return 1;
  }
}
