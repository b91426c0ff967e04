#include "cli/commands.h"

#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/explain.h"
#include "cli/services_view.h"
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

int uninstall_command(const std::filesystem::path& bpffs_dir, const std::optional<std::filesystem::path>& cgroup) {
  require_bpf_privileges();
  if (cgroup) require_cgroup2_dir(*cgroup);
  UninstallReport report = uninstall_datapath(bpffs_dir, cgroup);
  if (!report.directory_removed && report.links_detached == 0) {
    std::cout << "nothing to uninstall: " << bpffs_dir.string() << " does not exist\n";
    return 0;
  }
  std::cout << "detached " << report.links_detached << " programs, removed " << report.pins_removed << " pins and "
            << bpffs_dir.string() << "\n";
  return 0;
}

}  // namespace socklb
