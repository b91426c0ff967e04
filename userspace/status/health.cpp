#include "status/health.h"

#include <nlohmann/json.hpp>

namespace socklb {
namespace {

// A loop that has not turned for this long is stuck (it wakes every 10 s;
// a full resync of 100,000 services takes seconds, not minutes).
constexpr std::chrono::seconds kStuckAfter{120};

double seconds_between(AgentHealth::Clock::time_point from, AgentHealth::Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

void AgentHealth::waiting_for(std::string what) {
  std::lock_guard lock(mutex_);
  waiting_for_ = std::move(what);
}

void AgentHealth::change_received(Clock::time_point when) {
  std::lock_guard lock(mutex_);
  if (!oldest_unapplied_) oldest_unapplied_ = when;
}

void AgentHealth::synced(Clock::time_point when, std::size_t services) {
  std::lock_guard lock(mutex_);
  applied_ = true;
  oldest_unapplied_.reset();
  last_sync_ = when;
  services_ = services;
}

void AgentHealth::loop_alive(Clock::time_point when) {
  std::lock_guard lock(mutex_);
  loop_alive_ = when;
}

HealthAnswer AgentHealth::healthz(Clock::time_point now) const {
  std::optional<std::string> problem = attachment_problem_ ? attachment_problem_() : std::nullopt;
  std::lock_guard lock(mutex_);
  nlohmann::json body;
  if (last_sync_) body["lastSyncSecondsAgo"] = seconds_between(*last_sync_, now);
  body["services"] = services_;
  std::optional<std::string> reason;
  if (!applied_) reason = "no complete state applied yet: waiting for " + waiting_for_;
  else if (problem) reason = *problem;
  else if (oldest_unapplied_ && now - *oldest_unapplied_ > max_wait_)
    reason = "a change received " + std::to_string(static_cast<long>(seconds_between(*oldest_unapplied_, now))) +
             " s ago is not applied yet (syncs are failing: see the agent's log)";
  body["status"] = reason ? "unhealthy" : "ok";
  if (reason) body["reason"] = *reason;
  return {reason ? 503 : 200, body.dump()};
}

HealthAnswer AgentHealth::livez(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  nlohmann::json body;
  double idle = seconds_between(loop_alive_, now);
  body["loopSecondsAgo"] = idle;
  bool stuck = now - loop_alive_ > kStuckAfter;
  body["status"] = stuck ? "unhealthy" : "ok";
  if (stuck) body["reason"] = "the agent's loop has not turned for " + std::to_string(static_cast<long>(idle)) + " s";
  return {stuck ? 503 : 200, body.dump()};
}

}  // namespace socklb
