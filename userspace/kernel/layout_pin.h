#pragma once
// The layout record pinned beside the maps (`layout`, bpf/socklb_maps.h):
// which layout the pins have, so an agent of another layout migrates them
// instead of misreading them, and the CLI refuses to decode them.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "kernel/layout_fingerprint.h"

namespace socklb {

inline constexpr std::string_view kLayoutPinName = "layout";

// This build's version, as the record stores it ("socklb 0.1.0").
std::string_view socklb_version();

struct PinnedLayout {
  Layout layout;
  std::string version;  // of the socklb that wrote the record
};

// The record under bpffs_dir; none when there is no record (nothing pinned,
// or pins of a socklb from before the record). Throws when it cannot be read.
std::optional<PinnedLayout> read_layout_pin(const std::filesystem::path& bpffs_dir);

// Pins a new record of `layout` in place of the old one in one step.
void write_layout_pin(const std::filesystem::path& bpffs_dir, const Layout& layout);

// "layout 00f3... (socklb 0.1.0)", or what an install without a record is.
std::string describe_pinned_layout(const std::optional<PinnedLayout>& pinned);

// For users that read the maps without an agent of their own (`socklb
// services`, `socklb explain`): throws, naming both layouts and the fix, when
// the pins under bpffs_dir have another layout than this build's. Nothing
// pinned is left for the caller to report.
void require_pinned_layout_of_this_build(const std::filesystem::path& bpffs_dir);

}  // namespace socklb
