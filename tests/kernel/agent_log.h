#pragma once
// Reading the agent's log as the event stream of `socklb run --log-format
// json` (docs/events.md): the tests wait for and assert on events, never on
// the human text.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_process.h"

namespace kt {

// The event on one output line; nullopt for a line that is not one (a
// sanitizer's report, say).
std::optional<nlohmann::json> agent_event(const std::string& line);

bool is_event(const std::string& line, const std::string& name);

// The events named `name` (all of them when empty) on lines from `from` on.
std::vector<nlohmann::json> events_in(const std::vector<std::string>& lines, const std::string& name = "",
                                      std::size_t from = 0);

// Waits for an event named `name` on a line from `from` on; returns the line's
// index, or -1 on timeout.
int wait_for_event(const ChildProcess& agent, const std::string& name, std::size_t from,
                   std::chrono::milliseconds timeout);

// A diagnostic event as the text log prints it:
// "web.yaml:10: Service default/web: spec.ports[0].port: expected a number, got \"80\"".
std::string diagnostic_text(const nlohmann::json& event);

// Waits until the process is stopped (SIGSTOP: state T); false on timeout.
bool wait_until_stopped(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace kt
