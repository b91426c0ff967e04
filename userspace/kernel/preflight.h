#pragma once
// Start-up checks that turn an opaque EPERM or EINVAL later into a message
// that names the problem and the fix.

#include <filesystem>

namespace socklb {

// Root, or CAP_BPF with CAP_NET_ADMIN (or CAP_SYS_ADMIN).
void require_bpf_privileges();
void require_btf();
// The cgroup v2 mount point, read from /proc/mounts (often /sys/fs/cgroup,
// /sys/fs/cgroup/unified on hybrid systems).
std::filesystem::path find_cgroup2_root();
void require_cgroup2_dir(const std::filesystem::path& dir);
// Makes dir (mode 0700) on a bpffs, mounting bpffs at /sys/fs/bpf when needed.
void prepare_bpffs_dir(const std::filesystem::path& dir);
bool is_on_bpffs(const std::filesystem::path& path);

}  // namespace socklb
