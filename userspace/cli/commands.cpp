#include "cli/commands.h"

#include <signal.h>

#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/explain.h"
#include "cli/services_view.h"
#include "cli/status_view.h"
#include "kernel/attachment_check.h"
#include "status/status_file.h"
#include "kernel/pinned_maps.h"
#include "kernel/preflight.h"
#include "kernel/uninstall.h"

namespace socklb {

int services_command(const std::filesystem::path& bpffs_dir, const std::string& output) {
  auto maps = PinnedMaps::open(bpffs_dir, /*read_only=*/true);
  auto rows = service_rows_with_counters(*maps);
  if (output == "json") std::cout << render_json(rows).dump(2) << "\n";
  else std::cout << render_table(rows);
  return 0;
}

int explain_command(const std::filesystem::path& bpffs_dir, const std::string& destination, const std::string& output) {
  auto to = parse_destination(destination);
  if (!to)
    throw std::runtime_error("\"" + destination + "\" is not a destination: give ADDRESS:PORT[/tcp|udp], such as "
                             "10.96.0.10:80 or [fd00:10:96::1]:53/udp");
  auto maps = PinnedMaps::open(bpffs_dir, /*read_only=*/true);
  Explanation e = explain(read_kernel_state(*maps), *to);
  if (e.service) {
    std::vector<ServiceRow> row{*e.service};
    add_counters(row, maps->lookup(MapId::ServiceCounters, counter_keys(row)));
    e.service = row[0];
  }
  if (output == "json") std::cout << render_json(e).dump(2) << "\n";
  else std::cout << render_text(e);
  return 0;
}

namespace {

// The process is alive and is a socklb (a pid reused by another program is
// not our agent).
bool runs_socklb(int pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  return std::getline(comm, name) && name.rfind("socklb", 0) == 0;
}

}  // namespace

int status_command(const std::filesystem::path& bpffs_dir, const std::string& output) {
  StatusInputs in;
  in.agent_file = read_status_file(status_file_for(bpffs_dir));
  if (in.agent_file) in.agent_alive = runs_socklb(in.agent_file->value("pid", 0));
  if (!std::filesystem::exists(bpffs_dir)) {
    in.attachment_problem = "nothing is pinned at " + bpffs_dir.string() + ": socklb is not installed there";
  } else if (!in.agent_file) {
    in.attachment_problem = "which cgroup socklb serves is unknown: no agent has run with this --bpffs since boot";
  } else {
    in.attachment_problem = attachment_problem(bpffs_dir, in.agent_file->value("cgroup", std::string()),
                                               in.agent_file->value("links", 0));
  }
  try {
    auto maps = PinnedMaps::open(bpffs_dir, /*read_only=*/true);
    KernelState kernel = read_kernel_state(*maps);
    for (const auto& m : kMaps) {
      // a per-CPU counter map has no entries in use or free: capacity only
      std::optional<std::size_t> entries;
      if (!m.per_cpu) entries = m.written_by_programs ? maps->dump(m.id).size() : kernel.count(m.id);
      in.maps.push_back({std::string(m.name), entries, maps->capacity(m.id), std::string(m.capacity_flag)});
    }
  } catch (const std::exception& e) {
    in.maps_problem = std::string("cannot read the maps: ") + e.what();
  }
  StatusReport report = assess(in);
  if (output == "json") std::cout << report.json.dump(2) << "\n";
  else std::cout << report.text;
  return report.problems.empty() ? 0 : 1;
}

int uninstall_command(const std::filesystem::path& bpffs_dir, const std::optional<std::filesystem::path>& cgroup) {
  require_bpf_privileges();
  if (cgroup) require_cgroup2_dir(*cgroup);
  UninstallReport report = uninstall_datapath(bpffs_dir, cgroup);
  std::error_code ec;
  std::filesystem::remove(status_file_for(bpffs_dir), ec);  // what `status` read of the agent
  if (!report.directory_removed && report.links_detached == 0) {
    std::cout << "nothing to uninstall: " << bpffs_dir.string() << " does not exist\n";
    return 0;
  }
  std::cout << "detached " << report.links_detached << " programs, removed " << report.pins_removed << " pins and "
            << bpffs_dir.string() << "\n";
  return 0;
}

}  // namespace socklb
