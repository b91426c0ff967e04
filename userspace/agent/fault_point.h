#pragma once
// SOCKLB_FAULT: a named point at which the agent stops itself, so that a test
// can kill it exactly there instead of racing a log line. Inert when the
// variable is unset or empty; any other value it does not know stops the
// start, so a typo cannot make a test pass without its fault.
//
//   SOCKLB_FAULT=pause-before-phase:N   (N = 1..4)
//
// Once per process, at the first sync that has map writes to do, just before
// apply phase N starts (plan/apply_plan.cpp): the agent logs the event
// {"event":"fault_point",...} (docs/events.md) and sends itself SIGSTOP. The
// test then SIGKILLs it there, or SIGCONTs it to let the phase run (and kills
// it later, inside the phase).

#include <functional>
#include <optional>
#include <string>

#include "plan/apply_plan.h"

namespace socklb {

struct FaultPoint {
  int phase = 0;  // pause-before-phase:N

  std::string str() const;  // "pause-before-phase:2"
};

inline constexpr const char* kFaultVariable = "SOCKLB_FAULT";

// Parses a value of SOCKLB_FAULT; throws std::runtime_error naming the
// accepted values when it is none of them. nullopt for "".
std::optional<FaultPoint> parse_fault_point(const std::string& value);

// From the environment: nullopt when SOCKLB_FAULT is unset or empty.
std::optional<FaultPoint> fault_point_from_environment();

// The observer that stops the process at `point`. `sync_number` says which
// sync is running, for the event.
ApplyObserver pause_at(FaultPoint point, std::function<int()> sync_number);

}  // namespace socklb
