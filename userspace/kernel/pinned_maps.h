#pragma once
// The maps pinned under a bpffs directory, as a MapStore.

#include <array>
#include <filesystem>
#include <optional>

#include "kernel/array_reader.h"
#include "maps/map_store.h"
#include "kernel/reader_barrier.h"
#include "sys/unique_fd.h"

namespace socklb {

std::filesystem::path map_pin_path(const std::filesystem::path& bpffs_dir, std::string_view map_name);

// How many copies of a value a per-CPU map keeps (libbpf_num_possible_cpus).
std::size_t possible_cpus();

// Pins the BPF object `fd` at `pin` in place of whatever is pinned there, in
// one step: pinned as <pin>_staged first, then renamed over it, so readers
// of the pin see the old object or the new one, never none.
void pin_in_place(int fd, const std::filesystem::path& pin);
inline constexpr std::string_view kStagedPinSuffix = "_staged";  // bpffs names may not contain dots

class PinnedMaps : public MapStore {
 public:
  // Opens every map pinned under dir, after checking that the layout record
  // pinned there is this build's. Throws with what is missing or mismatched
  // and how to fix it.
  static std::unique_ptr<PinnedMaps> open(const std::filesystem::path& dir, bool read_only);
  // The maps of a load that are not pinned (yet): a migration's new maps.
  // fds: one per map of kMaps, in its order.
  static std::unique_ptr<PinnedMaps> of(std::array<UniqueFd, kMaps.size()> fds);

  void update(MapId map, const MapEntries& entries) override;
  void remove(MapId map, const std::vector<Bytes>& keys) override;
  void update_packed(MapId map, ByteView keys, ByteView values, std::size_t count) override;
  void remove_packed(MapId map, ByteView keys, std::size_t count) override;
  MapEntries dump(MapId map) const override;  // a per-CPU map's values summed over the CPUs
  MapEntries lookup(MapId map, const std::vector<Bytes>& keys) const override;  // one system call per key
  uint32_t capacity(MapId map) const override;
  void wait_for_readers() override;

 private:
  int fd(MapId map) const { return fds_[static_cast<std::size_t>(map)].get(); }
  // One bpf_map_update_batch of `count` packed entries (per-CPU values already copied per CPU).
  void write_batch(MapId map, const void* keys, const void* values, std::size_t count);
  // Takes `fd` as map `map` after checking its key and value sizes.
  void take(MapId map, UniqueFd fd, const std::string& where);

  std::array<UniqueFd, kMaps.size()> fds_;
  std::array<uint32_t, kMaps.size()> capacities_{};
  std::optional<ReaderBarrier> barrier_;  // made on first use: read-only users never need one
  mutable std::optional<ArrayReader> arrays_;  // made on first read of an array
};

}  // namespace socklb
