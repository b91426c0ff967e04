#pragma once
// Clients connecting all the time while a test injects a fault (the agent
// killed, restarted, upgraded), and the counts the reliability tests assert
// on: every failed connect is a failure of the test.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "expectations.h"
#include "testbed.h"

namespace kt {

// Clients connecting to one address for a bounded time, each a separate
// process (two "client threads" of an application, as the kernel sees them).
// stop() ends them early: a load that must last as long as something that
// takes a machine-dependent time (a rollout) stops when that is done,
// rather than after a guessed duration.
class ClientLoad {
 public:
  ClientLoad(const Testbed& node, const std::string& to, int clients, std::chrono::milliseconds duration)
      : stop_file_(node.manifests().parent_path() / (node.netns() + "-load-" + std::to_string(++counter()) + ".stop")) {
    for (int i = 0; i < clients; ++i)
      clients_.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
          SOCKLB_PROBE_BIN, "--netns", node.netns(), "--cgroup", node.cgroup().string(), "connect", "--to", to,
          "--count", "1000000", "--interval-ms", "1", "--timeout-ms", "1000", "--duration-ms",
          std::to_string(duration.count()), "--until-file", stop_file_.string()}));
  }
  ~ClientLoad() {
    std::error_code ec;
    std::filesystem::remove(stop_file_, ec);
  }

  // Returns once every client has made an attempt (a load that must span
  // what comes next has begun).
  void wait_until_connecting() {
    for (auto& client : clients_)
      REQUIRE(client->wait_for_line([](const std::string&) { return true; }, 0, std::chrono::seconds(10)) >= 0);
  }

  // The clients start no further attempt.
  void stop() { std::ofstream{stop_file_}; }

  std::vector<Attempt> finish() {
    std::vector<Attempt> all;
    for (auto& client : clients_) {
      REQUIRE(client->wait() == 0);
      auto attempts = parse_attempts(client->lines());
      all.insert(all.end(), attempts.begin(), attempts.end());
    }
    return all;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path stop_file_;
  std::vector<std::unique_ptr<ChildProcess>> clients_;
};

// "ECONNREFUSED x3; ..."
inline std::string failures(const std::vector<Attempt>& attempts) {
  std::map<std::string, int> errors;
  for (const auto& a : attempts)
    if (!a.ok) errors[a.error]++;
  std::string out;
  for (const auto& [error, n] : errors) out += error + " x" + std::to_string(n) + "; ";
  return out;
}

inline int count_failed(const std::vector<Attempt>& attempts) {
  return static_cast<int>(attempts.size()) - count_ok(attempts);
}

}  // namespace kt
