// Times an endpoint change: connect, request, read who answered, again, until
// the expected pod answers. Prints "started" after the first answer (so the
// caller knows connects work before it changes the manifest), then one JSON
// line with the CLOCK_MONOTONIC time of the connect() that reached the pod.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "clock.h"
#include "endpoint.h"
#include "workloads.h"

namespace loadgen {
namespace {

// The label of the pod that answered one fresh connection, or "" on failure.
std::string ask_once(const sockaddr_in& target, const std::string& request, size_t response_size) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  std::string answer;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    while (answer.size() < response_size) {
      ssize_t got = read(fd, buf, sizeof buf);
      if (got <= 0) break;
      answer.append(buf, static_cast<size_t>(got));
    }
  }
  close(fd);
  return answer.substr(0, answer.find(' '));
}

}  // namespace

int wait_for_backend(const sockaddr_in& target, const std::string& label, double timeout_s, size_t request_size,
                     size_t response_size) {
  std::string request(request_size, 'q');
  uint64_t deadline = now_ns() + static_cast<uint64_t>(timeout_s * 1e9);
  bool started = false;
  uint64_t attempts = 0;
  for (;;) {
    uint64_t t = now_ns();
    if (t > deadline) {
      std::printf("{\"reached\": false, \"attempts\": %lu}\n", static_cast<unsigned long>(attempts));
      return 1;
    }
    std::string answer = ask_once(target, request, response_size);
    attempts++;
    if (!started && !answer.empty()) {
      std::printf("started\n");
      std::fflush(stdout);
      started = true;
    }
    if (answer == label) {
      nlohmann::json j{{"reached", true}, {"connect_ns", t}, {"attempts", attempts}};
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
  }
}

}  // namespace loadgen
