#pragma once
// The commands behind the CLI. Each returns the process exit code.

#include <filesystem>
#include <optional>
#include <string>

#include "agent/agent.h"

namespace socklb {

inline const std::filesystem::path kDefaultBpffsDir = "/sys/fs/bpf/socklb";

int services_command(const std::filesystem::path& bpffs_dir, const std::string& output);
int explain_command(const std::filesystem::path& bpffs_dir, const std::string& destination, const std::string& output);
// Exit code 1 when something is wrong (no agent, programs not effective, a
// failing sync, input held, a map 90 % full): usable in scripts.
int status_command(const std::filesystem::path& bpffs_dir, const std::string& output);
int uninstall_command(const std::filesystem::path& bpffs_dir, const std::optional<std::filesystem::path>& cgroup);

}  // namespace socklb
