#include "kernel/preflight.h"

#include <linux/capability.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "sys/sys_error.h"

namespace socklb {
namespace fs = std::filesystem;
namespace {

constexpr int kCapBpf = 39;  // CAP_BPF, not in older headers

bool has_capability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return data[cap / 32].effective & (1u << (cap % 32));
}

bool on_fs(const fs::path& path, long magic) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0 && st.f_type == magic;
}

}  // namespace

void require_bpf_privileges() {
  if (geteuid() == 0 && has_capability(CAP_SYS_ADMIN)) return;
  bool bpf = has_capability(kCapBpf) || has_capability(CAP_SYS_ADMIN);
  bool net = has_capability(CAP_NET_ADMIN) || has_capability(CAP_SYS_ADMIN);
  if (bpf && net) return;
  throw std::runtime_error(
      "socklb needs root (or CAP_BPF and CAP_NET_ADMIN) to load and attach BPF programs: run it with sudo");
}

void require_btf() {
  if (fs::exists("/sys/kernel/btf/vmlinux")) return;
  throw std::runtime_error(
      "this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): socklb needs a kernel built with "
      "CONFIG_DEBUG_INFO_BTF=y (any distribution kernel since 5.8 is)");
}

fs::path find_cgroup2_root() {
  std::ifstream mounts("/proc/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, mount_point, type;
    fields >> device >> mount_point >> type;
    if (type == "cgroup2") return mount_point;
  }
  throw std::runtime_error("no cgroup v2 hierarchy is mounted (none in /proc/mounts): mount one with "
                           "`mount -t cgroup2 none /sys/fs/cgroup/unified` or boot with systemd.unified_cgroup_hierarchy=1");
}

void require_cgroup2_dir(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error("cgroup " + dir.string() + " does not exist");
  if (!on_fs(dir, CGROUP2_SUPER_MAGIC))
    throw std::runtime_error(dir.string() + " is not a cgroup v2 directory (cgroup v2 is mounted at " +
                             find_cgroup2_root().string() + ")");
}

bool is_on_bpffs(const fs::path& path) { return on_fs(path, BPF_FS_MAGIC); }

void prepare_bpffs_dir(const fs::path& dir) {
  fs::path parent = dir.parent_path();
  if (!is_on_bpffs(parent)) {
    if (parent != "/sys/fs/bpf")
      throw std::runtime_error(parent.string() + " is not on a BPF filesystem: mount one with `mount -t bpf bpf " +
                               parent.string() + "`, or use a --bpffs directory under /sys/fs/bpf");
    fs::create_directories(parent);
    if (mount("bpf", parent.c_str(), "bpf", 0, "mode=0700") != 0)
      throw SystemError("cannot mount bpffs at /sys/fs/bpf", errno, "mount it yourself with `mount -t bpf bpf /sys/fs/bpf`");
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw SystemError("cannot create " + dir.string(), errno);
  // root-only: the pins let whoever opens them redirect this node's traffic
  if (chmod(dir.c_str(), 0700) != 0) throw SystemError("cannot restrict " + dir.string() + " to root", errno);
}

}  // namespace socklb
