#include "agent_log.h"

#include <fstream>
#include <sstream>
#include <thread>

#include "manifests/diagnostic.h"

namespace kt {

std::optional<nlohmann::json> agent_event(const std::string& line) {
  if (line.empty() || line.front() != '{') return std::nullopt;
  auto event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!event.is_object() || !event.contains("event")) return std::nullopt;
  return event;
}

bool is_event(const std::string& line, const std::string& name) {
  auto event = agent_event(line);
  return event && (*event)["event"] == name;
}

std::vector<nlohmann::json> events_in(const std::vector<std::string>& lines, const std::string& name, std::size_t from) {
  std::vector<nlohmann::json> out;
  for (std::size_t i = from; i < lines.size(); ++i)
    if (auto event = agent_event(lines[i]); event && (name.empty() || (*event)["event"] == name))
      out.push_back(std::move(*event));
  return out;
}

int wait_for_event(const ChildProcess& agent, const std::string& name, std::size_t from,
                   std::chrono::milliseconds timeout) {
  return agent.wait_for_line([&](const std::string& line) { return is_event(line, name); }, from, timeout);
}

std::string diagnostic_text(const nlohmann::json& event) {
  auto text = [&](const char* field) { return event[field].is_string() ? event[field].get<std::string>() : ""; };
  socklb::Diagnostic d;
  d.where = {text("file"), event["line"].is_number() ? event["line"].get<int>() : 0};
  d.object = text("object");
  d.field = text("field");
  d.message = text("message");
  return d.str();
}

bool wait_until_stopped(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto paren = text.rfind(')');  // the command name may hold spaces and parentheses
    if (paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'T') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

}  // namespace kt
