#pragma once
// /healthz and /livez, as kube-proxy's health port answers them: 200 when
// this node serves the current state, 503 with a JSON reason when not.

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace socklb {

struct HealthAnswer {
  int status = 200;
  std::string body;  // JSON
};

class AgentHealth {
 public:
  using Clock = std::chrono::steady_clock;
  // attachment_problem: why the programs do not act on the served cgroup,
  // or nothing (kernel/attachment_check.h); checked on every /healthz.
  // max_wait: how long a received change may wait to be applied.
  AgentHealth(std::function<std::optional<std::string>()> attachment_problem, std::chrono::seconds max_wait)
      : attachment_problem_(std::move(attachment_problem)), max_wait_(max_wait) {}

  // The agent's side.
  void waiting_for(std::string what);  // no complete state yet: what it waits for
  void change_received(Clock::time_point when);
  void synced(Clock::time_point when, std::size_t services);  // a sync of a complete input went through
  void loop_alive(Clock::time_point when);

  HealthAnswer healthz(Clock::time_point now) const;
  // Alive: the agent's loop turned recently (it wakes at least every 10 s).
  HealthAnswer livez(Clock::time_point now) const;

 private:
  std::function<std::optional<std::string>()> attachment_problem_;
  std::chrono::seconds max_wait_;
  mutable std::mutex mutex_;
  std::string waiting_for_ = "the first sync";
  bool applied_ = false;
  std::optional<Clock::time_point> oldest_unapplied_;
  std::optional<Clock::time_point> last_sync_;
  std::size_t services_ = 0;
  Clock::time_point loop_alive_ = Clock::now();
};

}  // namespace socklb
