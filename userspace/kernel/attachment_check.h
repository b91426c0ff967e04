#pragma once
// Are socklb's programs acting on connects in the served cgroup? A program
// detached by someone else, or attached to a cgroup the pods do not live
// under, is a real failure of socket-level load balancers: connects then go
// to ClusterIPs untranslated. /healthz asks this on every call.

#include <filesystem>
#include <optional>
#include <string>

namespace socklb {

// Why not, or nothing when every one of the `expected` pinned links under
// bpffs_dir attaches a program that is effective on `cgroup`.
std::optional<std::string> attachment_problem(const std::filesystem::path& bpffs_dir,
                                              const std::filesystem::path& cgroup, std::size_t expected);

}  // namespace socklb
