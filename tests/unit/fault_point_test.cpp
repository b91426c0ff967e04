// SOCKLB_FAULT: the values it takes, and that anything else is refused.

#include <doctest/doctest.h>

#include "agent/fault_point.h"
#include "plan/plan.h"

using namespace socklb;

TEST_CASE("SOCKLB_FAULT: empty is off, pause-before-phase:1..4 is a point, anything else is refused by name") {
  CHECK_FALSE(parse_fault_point(""));
  for (int phase = 1; phase <= 4; ++phase) {
    auto point = parse_fault_point("pause-before-phase:" + std::to_string(phase));
    REQUIRE(point);
    CHECK(point->phase == phase);
    CHECK(point->str() == "pause-before-phase:" + std::to_string(phase));
  }
  for (const char* wrong : {"pause-before-phase:0", "pause-before-phase:5", "pause-before-phase:", "pause-before-phase:12",
                            "pause-before-phase", "pause-before-phase: 2", "crash", "1"}) {
    CAPTURE(wrong);
    try {
      parse_fault_point(wrong);
      FAIL("accepted");
    } catch (const std::runtime_error& e) {
      std::string message = e.what();
      CHECK(message.find(std::string("SOCKLB_FAULT=") + wrong + " is not a fault point") != std::string::npos);
      CHECK(message.find("pause-before-phase:N, N from 1 to 4") != std::string::npos);
    }
  }
}

TEST_CASE("the pause observer does nothing for other phases or an empty plan") {
  // the phase asked is 4; phases 1-3 and any phase of an empty plan must pass
  // through (a SIGSTOP here would stop the test binary itself)
  ApplyObserver observer = pause_at(FaultPoint{4}, [] { return 1; });
  Plan empty;
  for (int phase = 1; phase <= 4; ++phase) observer.before_phase(phase, empty);
  Plan one;
  one.steps.push_back({MapId::Backends, PlanOp::Write, 1, 1, {}, {}});
  for (int phase = 1; phase <= 3; ++phase) observer.before_phase(phase, one);
}
