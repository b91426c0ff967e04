#pragma once
// Installs the datapath: loads the programs, creates or adopts the pinned
// maps, and attaches the programs to a cgroup with pinned bpf_links. Once it
// returns, traffic no longer depends on this process: the pins hold it all.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "maps/map_layout.h"

namespace socklb {

struct InstallOptions {
  std::filesystem::path bpffs_dir;
  std::filesystem::path cgroup;
  // A pinned map of another capacity is replaced by one of the new size, its
  // entries copied, unless it holds more than that.
  MapCapacities capacities;
};

struct InstallReport {
  int maps_adopted = 0;
  int maps_created = 0;
  int maps_resized = 0;  // replaced by a copy of another capacity
  int links_created = 0;
  int links_updated = 0;  // an existing attachment switched to the new programs in place
  std::vector<std::string> notes;
};

InstallReport install_datapath(const InstallOptions& options);

// Links are pinned as link_<program> next to the maps (map_layout.h names those).
inline constexpr std::string_view kLinkPinPrefix = "link_";
std::filesystem::path link_pin_path(const std::filesystem::path& bpffs_dir, const std::string& program_name);
bool is_link_pin(const std::filesystem::path& pin);

// The cgroup id the kernel reports for a cgroup v2 directory (its inode).
uint64_t cgroup_id_of(const std::filesystem::path& cgroup);

}  // namespace socklb
