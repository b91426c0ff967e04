#pragma once
// Installs the datapath: loads the programs, creates, adopts or migrates the
// pinned maps, and attaches the programs to a cgroup with pinned bpf_links.
// Once committed, traffic no longer depends on this process: the pins hold
// it all.
//
// Two steps, so a change of layout costs no connect: load() prepares
// everything without touching what serves; commit() switches to it. When the
// pins have this build's layout (kernel/layout_fingerprint.h) the maps are
// adopted and the agent commits at once. When they have another layout (or
// no layout record: a socklb from before it), the programs are loaded with
// new, empty maps pinned nowhere; the agent's first sync fills them while the
// old programs and maps keep serving, and only then does commit() switch.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/layout_pin.h"
#include "kernel/pinned_maps.h"
#include "maps/map_layout.h"

struct socklb_bpf;
struct bpf_map;

namespace socklb {

struct InstallOptions {
  std::filesystem::path bpffs_dir;
  std::filesystem::path cgroup;
  // A pinned map of another capacity is replaced by one of the new size, its
  // entries copied, unless it holds more than that.
  MapCapacities capacities;
};

// The pins had another layout; commit() replaced every map.
struct LayoutMigration {
  std::optional<PinnedLayout> from;  // none: pins of a socklb from before layout records
  Layout to;
  std::vector<std::string> maps_changed;  // whose own layout differs (every map when `from` is none)
  std::vector<std::string> pins_removed;  // pins of the old install this build has no use for
};

struct InstallReport {
  int maps_adopted = 0;
  int maps_created = 0;
  int maps_resized = 0;  // replaced by a copy of another capacity
  int links_created = 0;
  int links_updated = 0;  // an existing attachment switched to the new programs in place
  uint64_t layout = 0;    // the fingerprint of the maps serving now
  std::optional<LayoutMigration> migration;
  std::vector<std::string> notes;
};

class Datapath {
 public:
  // Opens the programs, compares the pinned layout with theirs and loads
  // them with the maps to use: the pinned ones (or resized copies) when the
  // layout is the same, new empty ones when it is not. Changes nothing that
  // serves traffic. Throws with the reason and the fix.
  static std::unique_ptr<Datapath> load(const InstallOptions& options);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // The pins have another layout: fill maps() before commit().
  bool migrating() const { return migration_.has_value(); }
  const std::optional<LayoutMigration>& migration() const { return migration_; }

  // Every map the programs use was created by this load (none adopted or
  // copied from a pin): they hold nothing yet.
  bool maps_created_empty() const { return report_.maps_adopted == 0 && resizes_.empty(); }

  // The maps the loaded programs use, for the agent to write.
  std::unique_ptr<PinnedMaps> maps() const;

  // Puts the programs in service: switches each pinned link to its new
  // program in place (bpf_link_update: no moment without a program), then
  // pins the new maps in place of the old ones (rename) and the layout
  // record. A migration then removes the pins this build has no use for; the
  // old maps go when their last program does. Call once.
  InstallReport commit();

 private:
  struct SkeletonDeleter {
    void operator()(socklb_bpf* skel) const;
  };
  struct Resize;

  explicit Datapath(const InstallOptions& options);
  void prepare_map(bpf_map* map);

  InstallOptions options_;
  std::unique_ptr<socklb_bpf, SkeletonDeleter> skel_;
  Layout layout_;                      // of these programs
  std::optional<PinnedLayout> pinned_;  // the record found under bpffs_dir
  std::optional<LayoutMigration> migration_;
  std::vector<Resize> resizes_;
  uint32_t state_capacity_ = 0;  // service_state's, once prepared: service_counters gets it too
  InstallReport report_;
  bool committed_ = false;
};

// Links are pinned as link_<program> next to the maps (map_layout.h names those).
inline constexpr std::string_view kLinkPinPrefix = "link_";
std::filesystem::path link_pin_path(const std::filesystem::path& bpffs_dir, const std::string& program_name);
bool is_link_pin(const std::filesystem::path& pin);

// The cgroup id the kernel reports for a cgroup v2 directory (its inode).
uint64_t cgroup_id_of(const std::filesystem::path& cgroup);

}  // namespace socklb
