#pragma once
// Closes connected sockets whose backend was removed (bpf/stale_sockets.bpf.c),
// in every network namespace of the processes in the served cgroup, since a
// socket iterator walks only the namespace it is created in.

#include <filesystem>
#include <memory>

namespace socklb {

class StaleSocketCloser {
 public:
  // Loads the iterators against the maps pinned under bpffs_dir. Throws with
  // the reason when the kernel cannot (bpf_sock_destroy needs Linux 6.5).
  StaleSocketCloser(const std::filesystem::path& bpffs_dir, std::filesystem::path cgroup);
  ~StaleSocketCloser();
  StaleSocketCloser(const StaleSocketCloser&) = delete;
  StaleSocketCloser& operator=(const StaleSocketCloser&) = delete;

  // Returns how many sockets were closed.
  int close_stale();

 private:
  struct Programs;
  std::unique_ptr<Programs> programs_;
  std::filesystem::path cgroup_;
};

}  // namespace socklb
