#pragma once
// `socklb trace`: a live stream of what the programs decide.

#include <cstdint>
#include <filesystem>
#include <optional>

#include "model/service.h"

namespace socklb {

struct TraceOptions {
  std::filesystem::path bpffs_dir;
  std::optional<ServiceRef> service;  // only its decisions (and refusals on its ClusterIPs)
  uint64_t count = 0;                 // stop after this many decisions shown; 0: until Ctrl-C
  bool json = false;
};

// Returns the exit code: 0 when it ended as asked (the count reached,
// SIGINT/SIGTERM, the reader of stdout gone); 1 when the pinned maps were
// replaced under it (a layout migration, an uninstall).
int trace_command(const TraceOptions& options);

// "default/web" -> {default, web}; nullopt when it is not NAMESPACE/NAME.
std::optional<ServiceRef> parse_service_ref(const std::string& text);

}  // namespace socklb
