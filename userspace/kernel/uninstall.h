#pragma once

#include <filesystem>
#include <optional>

namespace socklb {

struct UninstallReport {
  int links_detached = 0;
  int pins_removed = 0;
  bool directory_removed = false;
};

// Detaches socklb's programs and removes every pin under bpffs_dir. With a
// cgroup, socklb links still attached there without a pin (their pin was
// deleted while an agent held them) are detached too.
UninstallReport uninstall_datapath(const std::filesystem::path& bpffs_dir,
                                   const std::optional<std::filesystem::path>& cgroup);

}  // namespace socklb
