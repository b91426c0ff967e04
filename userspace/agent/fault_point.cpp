#include "agent/fault_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "agent/event_log.h"

namespace socklb {
namespace {

constexpr std::string_view kPauseBeforePhase = "pause-before-phase:";

}  // namespace

std::string FaultPoint::str() const { return std::string(kPauseBeforePhase) + std::to_string(phase); }

std::optional<FaultPoint> parse_fault_point(const std::string& value) {
  if (value.empty()) return std::nullopt;
  std::string_view v(value);
  if (v.substr(0, kPauseBeforePhase.size()) == kPauseBeforePhase) {
    std::string_view n = v.substr(kPauseBeforePhase.size());
    if (n.size() == 1 && n[0] >= '1' && n[0] <= '4') return FaultPoint{n[0] - '0'};
  }
  throw std::runtime_error(std::string(kFaultVariable) + "=" + value +
                           " is not a fault point; the only one is pause-before-phase:N, N from 1 to 4 "
                           "(docs/events.md). Unset it to run the agent normally");
}

std::optional<FaultPoint> fault_point_from_environment() {
  const char* value = std::getenv(kFaultVariable);
  return parse_fault_point(value ? value : "");
}

ApplyObserver pause_at(FaultPoint point, std::function<int()> sync_number) {
  auto fired = std::make_shared<bool>(false);
  return {[point, sync_number = std::move(sync_number), fired](int phase, const Plan& plan) {
    if (*fired || phase != point.phase || plan.empty()) return;
    *fired = true;
    int sync = sync_number();
    log_event(spdlog::level::warn, "fault_point",
              {{"fault", "pause-before-phase"}, {"phase", phase}, {"sync", sync}, {"pid", getpid()}},
              fmt::format("sync {}: {}={}: stopping before apply phase {} (SIGSTOP; SIGCONT resumes, SIGKILL ends "
                          "it here)",
                          sync, kFaultVariable, point.str(), phase));
    spdlog::default_logger()->flush();
    raise(SIGSTOP);
  }};
}

}  // namespace socklb
