#pragma once
// What a running agent says about itself for `socklb status`: a small JSON
// file under /run/socklb/, one per --bpffs directory, rewritten atomically
// at start and after every sync (went through or not). The maps and links
// are read from the kernel by `status` itself; this file adds what only the
// agent knows (its pid, its source, its last sync, its errors).

#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

namespace socklb {

// /run/socklb/<the bpffs directory, '/' as '-'>.json
std::filesystem::path status_file_for(const std::filesystem::path& bpffs_dir);

// Writes `status` to `file` atomically (a temporary renamed into place),
// making the directory. Throws with the path on failure.
void write_status_file(const std::filesystem::path& file, const nlohmann::json& status);

// The file's content, or nothing when there is none (no agent ever ran
// with this --bpffs since boot). Throws when it is there but unreadable.
std::optional<nlohmann::json> read_status_file(const std::filesystem::path& file);

}  // namespace socklb
