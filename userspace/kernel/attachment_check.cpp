#include "kernel/attachment_check.h"

#include <bpf/bpf.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "kernel/loader.h"
#include "sys/unique_fd.h"

namespace socklb {
namespace fs = std::filesystem;

std::optional<std::string> attachment_problem(const fs::path& bpffs_dir, const fs::path& cgroup, std::size_t expected) {
  UniqueFd cgroup_fd(open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup_fd) return "cannot open the served cgroup " + cgroup.string() + ": " + std::strerror(errno);
  uint64_t cgroup_id = cgroup_id_of(cgroup);
  std::size_t links = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(bpffs_dir, ec)) {
    if (!is_link_pin(entry.path())) continue;
    ++links;
    std::string name = entry.path().filename().string();
    UniqueFd link(bpf_obj_get(entry.path().c_str()));
    if (!link) return "cannot open the pinned link " + entry.path().string() + ": " + std::strerror(errno);
    bpf_link_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(link.get(), &info, &len) != 0)
      return "cannot inspect the pinned link " + entry.path().string() + ": " + std::strerror(errno);
    if (info.cgroup.cgroup_id == 0)
      return name + " was detached (by someone else: bpftool cgroup detach?); restart the agent to attach it again";
    if (info.cgroup.cgroup_id != cgroup_id)
      return name + " is attached to another cgroup (id " + std::to_string(info.cgroup.cgroup_id) + ") than " +
             cgroup.string();
    // effective: what runs for sockets of this cgroup, its ancestors' programs included
    std::vector<__u32> ids(64);
    LIBBPF_OPTS(bpf_prog_query_opts, query, .query_flags = BPF_F_QUERY_EFFECTIVE, .prog_ids = ids.data(),
                .prog_cnt = static_cast<__u32>(ids.size()));
    if (bpf_prog_query_opts(cgroup_fd.get(), static_cast<bpf_attach_type>(info.cgroup.attach_type), &query) != 0)
      return "cannot ask which programs are effective on " + cgroup.string() + ": " + std::strerror(errno);
    bool effective = false;
    for (__u32 i = 0; i < query.prog_cnt; ++i) effective |= ids[i] == info.prog_id;
    if (!effective) return name + "'s program is attached but not effective on " + cgroup.string();
  }
  if (ec) return "cannot list " + bpffs_dir.string() + ": " + ec.message();
  if (links < expected)
    return "only " + std::to_string(links) + " of socklb's " + std::to_string(expected) + " programs are pinned under " +
           bpffs_dir.string() + " (a pin was removed?); restart the agent to attach them again";
  return std::nullopt;
}

}  // namespace socklb
