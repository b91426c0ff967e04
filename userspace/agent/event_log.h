#pragma once
// The agent's log, in two formats. Text is for people: one line per message,
// worded freely. JSON is for programs: every line one JSON object, and what
// the agent did (a sync, a diagnostic, a stop) as an event whose name and
// fields are a contract (docs/events.md), so tests, the benchmark and
// operators' tools never parse the human wording.
//
// Both go through spdlog: messages logged with spdlog::info() and friends
// become {"event":"log","message":...} objects in JSON; log_event() logs an
// event, as its human text in text mode and as its fields in JSON mode.

#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/common.h>

namespace socklb {

enum class LogFormat { Text, Json };

// Makes spdlog's default logger (and the events' one) write `format` to
// stderr at `level` and above.
void setup_logging(spdlog::level::level_enum level, LogFormat format);

LogFormat log_format();

// Fields in the order they are written: the event's own, then documented
// fields in a fixed order (readable, and stable for line-oriented tools).
using EventFields = nlohmann::ordered_json;

// Logs event `name`: in JSON its fields (docs/events.md says which), in text
// `human`, the line a person reads. Strings that are not valid UTF-8 (a
// manifest's bytes quoted in an error) are written with U+FFFD in their place.
void log_event(spdlog::level::level_enum level, std::string_view name, EventFields fields, std::string_view human);

// Milliseconds rounded to the microsecond: durations in events.
double event_ms(double milliseconds);

}  // namespace socklb
