#include "agent/event_log.h"

#include <time.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace socklb {
namespace {

// Events go through a logger of their own, sharing the default logger's
// sink: its name tells the JSON formatter that the message already is the
// event's fields, serialized, rather than free text to wrap.
constexpr const char* kEventLoggerName = "socklb-event";

LogFormat current_format = LogFormat::Text;
std::shared_ptr<spdlog::logger> event_logger;

std::string dump(const EventFields& fields) {
  // replace: a diagnostic may quote bytes of a binary file
  return fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// "2026-11-26T10:15:02.123Z": UTC, so lines from machines in different time
// zones sort and compare as they are.
std::string utc_time(spdlog::log_clock::time_point t) {
  auto since_epoch = t.time_since_epoch();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  time_t whole = static_cast<time_t>(seconds.count());
  tm utc{};
  gmtime_r(&whole, &utc);
  char buf[32];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(millis));
  return buf;
}

// {"time":...,"level":...,"event":...,<fields>} per line.
class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    EventFields head;
    head["time"] = utc_time(msg.time);
    auto level = spdlog::level::to_string_view(msg.level);
    head["level"] = std::string_view(level.data(), level.size());
    std::string line = dump(head);
    line.pop_back();  // the closing brace: the event's fields follow
    bool is_event = std::string_view(msg.logger_name.data(), msg.logger_name.size()) == kEventLoggerName &&
                    payload.size() > 2 && payload.front() == '{';
    if (is_event) {
      line += ",";
      line.append(payload.substr(1));  // {"event":...} from log_event()
    } else {
      EventFields rest;
      rest["event"] = "log";
      rest["message"] = payload;
      line += "," + dump(rest).substr(1);
    }
    line += "\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonLineFormatter>(); }
};

}  // namespace

void setup_logging(spdlog::level::level_enum level, LogFormat format) {
  current_format = format;
  spdlog::sink_ptr sink;
  if (format == LogFormat::Json) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();  // no colour codes inside JSON
    sink->set_formatter(std::make_unique<JsonLineFormatter>());
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v"));
  }
  auto logger = std::make_shared<spdlog::logger>("socklb", sink);
  event_logger = std::make_shared<spdlog::logger>(kEventLoggerName, sink);
  for (const auto& l : {logger, event_logger}) l->set_level(level);
  spdlog::set_default_logger(logger);
}

LogFormat log_format() { return current_format; }

void log_event(spdlog::level::level_enum level, std::string_view name, EventFields fields, std::string_view human) {
  if (!event_logger || current_format == LogFormat::Text) {  // no setup_logging(): a test, as text
    (event_logger ? event_logger : spdlog::default_logger())->log(level, "{}", human);
    return;
  }
  if (!event_logger->should_log(level)) return;
  EventFields event;
  event["event"] = name;
  for (auto it = fields.begin(); it != fields.end(); ++it) event[it.key()] = std::move(it.value());
  event_logger->log(level, "{}", dump(event));
}

double event_ms(double milliseconds) { return std::round(milliseconds * 1000.0) / 1000.0; }

}  // namespace socklb
