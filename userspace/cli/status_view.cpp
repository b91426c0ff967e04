#include "cli/status_view.h"

#include <fmt/format.h>

namespace socklb {

StatusReport assess(const StatusInputs& in) {
  StatusReport r;
  const nlohmann::json* a = in.agent_file ? &*in.agent_file : nullptr;
  auto field = [&](const char* key) -> const nlohmann::json* {
    return a && a->contains(key) && !(*a)[key].is_null() ? &(*a)[key] : nullptr;
  };

  // the agent
  std::string agent;
  if (!a) {
    agent = "not running (no agent has run with this --bpffs since boot)";
    r.problems.push_back("no agent is running: start `socklb run`");
  } else if (!in.agent_alive) {
    agent = fmt::format("not running (pid {} is gone)", a->value("pid", 0));
    r.problems.push_back("the agent stopped: the kernel serves the last state it applied, but changes are not applied; "
                         "start `socklb run`");
  } else {
    agent = fmt::format("running, pid {}, since {}; source: {}", a->value("pid", 0), a->value("started", "?"),
                        a->value("source", "?"));
  }

  // the programs
  std::string programs;
  if (in.attachment_problem) {
    programs = *in.attachment_problem;
    r.problems.push_back(*in.attachment_problem);
  } else {
    programs = fmt::format("attached to {} and effective", a ? a->value("cgroup", "?") : std::string("the cgroup"));
  }

  // the last sync
  std::string sync = "none yet";
  if (const auto* s = field("last_sync"))
    sync = fmt::format("#{} at {}, took {:.1f} ms: {} services, {} backends", s->value("sync", 0), s->value("at", "?"),
                       s->value("took_ms", 0.0), s->value("services", 0), s->value("backends", 0));
  std::vector<std::string> errors;
  if (const auto* f = field("last_failure"); f && a->value("failing", false)) {
    errors.push_back(fmt::format("sync #{} failed at {} ({}): {}", f->value("sync", 0), f->value("at", "?"),
                                 f->value("stage", "?"), f->value("message", "")));
    r.problems.push_back("the last sync failed: " + f->value("message", std::string()));
  }
  if (const auto* s = field("last_sync"); s && s->value("held", 0) > 0) {
    int held = s->value("held", 0);
    errors.push_back(fmt::format("{} service{} held at the last good state by broken input (the agent's log names "
                                 "the file and field)",
                                 held, held == 1 ? "" : "s"));
    r.problems.push_back(fmt::format("{} service{} held by broken input", held, held == 1 ? "" : "s"));
  }
  if (a && in.agent_alive && !field("last_sync") && !a->value("failing", false))
    errors.push_back("waiting for the first sync: " + a->value("waiting_for", std::string("its input")));

  // the maps
  std::string maps;
  nlohmann::json maps_json = nlohmann::json::array();
  if (in.maps_problem) {
    maps = "  " + *in.maps_problem + "\n";
    r.problems.push_back(*in.maps_problem);
  }
  for (const auto& m : in.maps) {
    if (!m.entries) {
      maps += fmt::format("  {:<16} {:>9} / {:<9} per-CPU counters, no fill{}\n", m.name, "-", m.capacity,
                          m.flag.empty() ? "" : "  (" + m.flag + ")");
      maps_json.push_back({{"map", m.name}, {"entries", nullptr}, {"capacity", m.capacity}, {"flag", m.flag}});
      continue;
    }
    double fill = m.capacity ? double(*m.entries) / m.capacity : 0;
    maps += fmt::format("  {:<16} {:>9} / {:<9} {:>5.1f} %{}\n", m.name, *m.entries, m.capacity, fill * 100,
                        m.flag.empty() ? "" : "  (" + m.flag + ")");
    maps_json.push_back({{"map", m.name}, {"entries", *m.entries}, {"capacity", m.capacity}, {"flag", m.flag}});
    if (fill >= kFullAt)
      r.problems.push_back(fmt::format("map {} is {:.0f} % full: raise {}", m.name, fill * 100,
                                       m.flag.empty() ? "its capacity" : m.flag));
  }

  r.text = fmt::format("agent:     {}\nprograms:  {}\nlast sync: {}\nerrors:    {}\nmaps:\n{}", agent, programs, sync,
                       errors.empty() ? "none" : fmt::format("{}", fmt::join(errors, "; ")), maps);
  r.text += r.problems.empty() ? "status: ok\n" : fmt::format("status: {} problem{}\n", r.problems.size(), r.problems.size() == 1 ? "" : "s");
  for (const auto& p : r.problems) r.text += "  - " + p + "\n";
  r.json = {{"ok", r.problems.empty()},
            {"problems", r.problems},
            {"agent", a ? *a : nlohmann::json(nullptr)},
            {"agent_running", in.agent_alive},
            {"programs_effective", !in.attachment_problem},
            {"maps", maps_json}};
  return r;
}

}  // namespace socklb
