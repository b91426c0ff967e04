#pragma once
// Closes connected sockets that lost their pod (bpf/stale_sockets.bpf.c), in
// every network namespace of the processes in the served cgroup, since a
// socket iterator walks only the namespace it is created in.

#include <filesystem>
#include <memory>
#include <vector>

#include "maps/map_codec.h"

namespace socklb {

class StaleSocketCloser {
 public:
  // Loads the iterators against the maps pinned under bpffs_dir. Throws with
  // the reason when the kernel cannot (bpf_sock_destroy needs Linux 6.5).
  StaleSocketCloser(const std::filesystem::path& bpffs_dir, std::filesystem::path cgroup);
  ~StaleSocketCloser();
  StaleSocketCloser(const StaleSocketCloser&) = delete;
  StaleSocketCloser& operator=(const StaleSocketCloser&) = delete;

  // TCP connections to gone_tcp (pod address:ports no service lists any
  // more), and connected UDP sockets whose backend entry is gone. Returns how
  // many sockets were closed.
  int close_stale(const std::vector<ReverseKey>& gone_tcp);

 private:
  struct Programs;
  std::unique_ptr<Programs> programs_;
  std::filesystem::path cgroup_;
  bool refused_before_ = false;  // the last walk could not enter some namespaces
};

}  // namespace socklb
