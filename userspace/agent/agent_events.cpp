#include "agent/agent_events.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/event_log.h"
#include "kernel/layout_pin.h"

namespace socklb {
namespace {

// A cold start of 100k services changes all of them: the event lists this
// many and counts the rest (added + updated + removed are exact).
constexpr std::size_t kChangesInEvent = 100;
constexpr std::size_t kChangesInText = 5;

// " (+default/web:http 10.96.0.10:80/TCP, ~... and 12 more)"
std::string describe_changes(const std::vector<std::string>& changes) {
  std::string out;
  for (std::size_t i = 0; i < changes.size() && i < kChangesInText; ++i) out += (i ? ", " : " (") + changes[i];
  if (changes.size() > kChangesInText) out += fmt::format(" and {} more", changes.size() - kChangesInText);
  return changes.empty() ? out : out + ")";
}

EventFields text_or_null(const std::string& text) { return text.empty() ? EventFields() : EventFields(text); }

}  // namespace

void log_datapath_installed(const std::filesystem::path& bpffs, const std::filesystem::path& cgroup,
                            const InstallReport& installed) {
  log_event(spdlog::level::info, "datapath",
            {{"bpffs", bpffs.string()},
             {"cgroup", cgroup.string()},
             {"maps_adopted", installed.maps_adopted},
             {"maps_created", installed.maps_created},
             {"maps_resized", installed.maps_resized},
             {"links_updated", installed.links_updated},
             {"links_created", installed.links_created},
             {"layout", fingerprint_text(installed.layout)}},
            fmt::format("datapath at {} (layout {}): {} maps adopted, {} created, {} resized; attached to {}: {} links "
                        "switched in place, {} created",
                        bpffs.string(), fingerprint_text(installed.layout), installed.maps_adopted,
                        installed.maps_created, installed.maps_resized, cgroup.string(), installed.links_updated,
                        installed.links_created));
}

void log_layout_migration_staged(const std::filesystem::path& bpffs, const LayoutMigration& migration) {
  spdlog::warn("the pins at {} have another layout than this build ({}; this build: layout {} of socklb {}): "
               "migrating them: new maps are filled from the manifests while the pinned datapath keeps serving, "
               "then the programs switch to them",
               bpffs.string(), describe_pinned_layout(migration.from), fingerprint_text(migration.to.fingerprint),
               socklb_version());
}

void log_layout_migrated(const std::filesystem::path& bpffs, const LayoutMigration& migration) {
  EventFields changed = EventFields::array(), removed = EventFields::array();
  for (const auto& name : migration.maps_changed) changed.push_back(name);
  for (const auto& name : migration.pins_removed) removed.push_back(name);
  const auto& from = migration.from;
  log_event(spdlog::level::warn, "layout_migrated",
            {{"bpffs", bpffs.string()},
             {"from", from ? EventFields(fingerprint_text(from->layout.fingerprint)) : EventFields()},
             {"from_version", from ? EventFields(from->version) : EventFields()},
             {"to", fingerprint_text(migration.to.fingerprint)},
             {"to_version", socklb_version()},
             {"maps_changed", std::move(changed)},
             {"pins_removed", std::move(removed)}},
            fmt::format("migrated the pins at {} from {} to layout {} of socklb {}: every map replaced ({} of another "
                        "layout{}), the programs switched in place; affinities and the state of sockets made before "
                        "start afresh",
                        bpffs.string(), describe_pinned_layout(from), fingerprint_text(migration.to.fingerprint),
                        socklb_version(), migration.maps_changed.size(),
                        migration.pins_removed.empty() ? "" : fmt::format("; {} old pins removed", migration.pins_removed.size())));
}

void log_diagnostics(int sync, const Diagnostics& diagnostics) {
  for (const auto& d : diagnostics) {
    bool error = d.severity == Diagnostic::Severity::Error;
    log_event(error ? spdlog::level::err : spdlog::level::warn, "diagnostic",
              {{"sync", sync},
               {"severity", error ? "error" : "warning"},
               {"file", text_or_null(d.where.file)},
               {"line", d.where.line > 0 ? EventFields(d.where.line) : EventFields()},
               {"object", text_or_null(d.object)},
               {"field", text_or_null(d.field)},
               {"message", d.message}},
              d.str());
  }
}

void log_sync(const SyncReport& report, const SyncResult& result) {
  const PlanSummary& s = result.summary;
  auto plan = result.took - result.apply_took;
  EventFields changes = EventFields::array();
  for (std::size_t i = 0; i < s.changes.size() && i < kChangesInEvent; ++i) changes.push_back(s.changes[i]);
  log_event(spdlog::level::info, "sync",
            {{"sync", report.sync},
             {"services", s.services},
             {"backends", s.backends},
             {"source", report.from_api ? "api" : "manifests"},
             {"files", report.files},
             {"parsed", report.parsed},
             {"read_ms", event_ms(report.read.count())},
             {"plan_ms", event_ms(std::chrono::duration<double, std::milli>(plan).count())},
             {"apply_ms", event_ms(std::chrono::duration<double, std::milli>(result.apply_took).count())},
             {"since_change_ms", report.since_change ? EventFields(event_ms(report.since_change->count())) : EventFields()},
             {"served_since_change_ms",
              report.since_change_served ? EventFields(event_ms(report.since_change_served->count())) : EventFields()},
             {"writes", result.writes},
             {"removals_pending", result.removals_pending},
             {"added", s.added},
             {"updated", s.updated},
             {"removed", s.removed},
             {"held", s.held},
             {"unchanged", s.unchanged},
             {"changes", std::move(changes)},
             {"changes_omitted", s.changes.size() - std::min(s.changes.size(), kChangesInEvent)},
             {"errors", report.errors},
             {"warnings", report.warnings},
             {"resync", report.resync}},
            fmt::format("{} {}: {} services, {} backends {}; changed: +{} ~{} "
                        "-{}{}{}; {} map writes in {:.1f} ms",
                        report.resync ? "full resync" : "sync", report.sync, s.services, s.backends,
                        report.from_api ? fmt::format("from the API ({} objects received)", report.parsed)
                                        : fmt::format("from {} files ({} parsed in {:.1f} ms)", report.files,
                                                      report.parsed, report.read.count()),
                        s.added,
                        s.updated, s.removed, describe_changes(s.changes),
                        s.held ? fmt::format(", {} held at their previous state", s.held) : "", result.writes,
                        result.took.count() / 1000.0));
}

void log_cleanup(int sync, const RemovalsDone& done, std::optional<std::chrono::steady_clock::time_point> change) {
  auto ms = [](auto d) { return event_ms(std::chrono::duration<double, std::milli>(d).count()); };
  log_event(spdlog::level::info, "cleanup",
            {{"sync", sync},
             {"removed", done.entries},
             {"after_served_ms", ms(done.done_at - done.served_at)},
             {"since_change_ms", change ? EventFields(ms(done.done_at - *change)) : EventFields()}},
            fmt::format("sync {}: removed the {} entr{} it replaced, {:.1f} ms after it served (once no program "
                        "in flight could use them)",
                        sync, done.entries, done.entries == 1 ? "y" : "ies",
                        std::chrono::duration<double, std::milli>(done.done_at - done.served_at).count()));
}

void log_sync_failed(int sync, std::string_view stage, const std::string& error, std::chrono::seconds retry_in) {
  std::string human =
      stage == "read"
          ? fmt::format("sync {}: {}; the kernel keeps serving what it had", sync, error)
          : fmt::format("sync {} failed: {}; every service is whole (old or new); retrying in {}s", sync, error,
                        retry_in.count());
  log_event(spdlog::level::err, "sync_failed",
            {{"sync", sync}, {"stage", stage}, {"message", error}, {"retry_in_ms", retry_in.count() * 1000}}, human);
}

void log_sockets_closed(int sync, int count) {
  log_event(spdlog::level::info, "sockets_closed", {{"sync", sync}, {"count", count}},
            fmt::format("sync {}: closed {} connected socket{} whose pod is gone", sync, count, count == 1 ? "" : "s"));
}

void log_trace_cleared(uint32_t tracer_pid) {
  log_event(spdlog::level::warn, "trace_cleared", {{"tracer_pid", tracer_pid}},
            fmt::format("turned off the trace of socklb trace pid {}, which is gone (killed?): the programs no "
                        "longer write trace events",
                        tracer_pid));
}

void log_stopping(const std::string& signal, const std::filesystem::path& bpffs) {
  log_event(spdlog::level::info, "stopping", {{"signal", signal}, {"bpffs", bpffs.string()}},
            fmt::format("stopping; the datapath stays pinned at {} and keeps serving", bpffs.string()));
}

void log_http_endpoints(int health_port, int metrics_port) {
  auto port = [](int p) { return p ? nlohmann::json(p) : nlohmann::json(nullptr); };
  auto text = [](int p, const char* paths, const char* flag) {
    return p ? fmt::format("{} on port {}", paths, p) : fmt::format("{} off ({} '')", paths, flag);
  };
  log_event(spdlog::level::info, "http", {{"health_port", port(health_port)}, {"metrics_port", port(metrics_port)}},
            fmt::format("http: {}; {}", text(health_port, "/healthz and /livez", "--health-addr"),
                        text(metrics_port, "/metrics", "--metrics-addr")));
}

void log_fatal(const std::string& error) {
  log_event(spdlog::level::critical, "fatal", {{"message", error}}, "socklb: error: " + error);
}

}  // namespace socklb
