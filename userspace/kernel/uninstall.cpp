#include "kernel/uninstall.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <set>
#include <string>

#include "kernel/loader.h"
#include "sys/sys_error.h"
#include "sys/unique_fd.h"

namespace socklb {
namespace fs = std::filesystem;
namespace {

// Detaching (not just unpinning) also cuts off an agent that still holds
// the link open, so nothing stays attached behind our back.
bool detach_link_fd(int fd) { return bpf_link_detach(fd) == 0 || errno == ENOLINK; }

std::optional<bpf_prog_info> prog_info(uint32_t prog_id) {
  UniqueFd prog(bpf_prog_get_fd_by_id(prog_id));
  if (!prog) return std::nullopt;
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog.get(), &info, &len) != 0) return std::nullopt;
  return info;
}

int detach_orphan_links(const fs::path& cgroup) {
  uint64_t cgroup_id = cgroup_id_of(cgroup);
  int detached = 0;
  __u32 id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    UniqueFd link(bpf_link_get_fd_by_id(id));
    if (!link) continue;
    bpf_link_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(link.get(), &info, &len) != 0) continue;
    if (info.type != BPF_LINK_TYPE_CGROUP || info.cgroup.cgroup_id != cgroup_id) continue;
    auto prog = prog_info(info.prog_id);
    if (!prog || std::string(prog->name).rfind("socklb_", 0) != 0) continue;
    if (detach_link_fd(link.get())) ++detached;
  }
  return detached;
}

}  // namespace

UninstallReport uninstall_datapath(const fs::path& bpffs_dir, const std::optional<fs::path>& cgroup) {
  UninstallReport report;
  std::error_code ec;
  if (fs::is_directory(bpffs_dir, ec)) {
    for (const auto& entry : fs::directory_iterator(bpffs_dir)) {
      const fs::path& pin = entry.path();
      if (is_link_pin(pin)) {
        UniqueFd link(bpf_obj_get(pin.c_str()));
        if (link && detach_link_fd(link.get())) ++report.links_detached;
      }
      if (::unlink(pin.c_str()) != 0) throw SystemError("cannot remove " + pin.string(), errno);
      ++report.pins_removed;
    }
    if (::rmdir(bpffs_dir.c_str()) != 0) throw SystemError("cannot remove " + bpffs_dir.string(), errno);
    report.directory_removed = true;
  }
  if (cgroup) report.links_detached += detach_orphan_links(*cgroup);
  return report;
}

}  // namespace socklb
