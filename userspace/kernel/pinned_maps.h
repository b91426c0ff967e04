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

class PinnedMaps : public MapStore {
 public:
  // Opens every map pinned under dir and checks its key and value sizes
  // against this build. Throws with what is missing or mismatched and how to fix it.
  static std::unique_ptr<PinnedMaps> open(const std::filesystem::path& dir, bool read_only);

  void update(MapId map, const MapEntries& entries) override;
  void remove(MapId map, const std::vector<Bytes>& keys) override;
  MapEntries dump(MapId map) const override;  // a per-CPU map's values summed over the CPUs
  MapEntries lookup(MapId map, const std::vector<Bytes>& keys) const override;  // one system call per key
  uint32_t capacity(MapId map) const override;
  void wait_for_readers() override;

 private:
  int fd(MapId map) const { return fds_[static_cast<std::size_t>(map)].get(); }

  std::array<UniqueFd, kMaps.size()> fds_;
  std::array<uint32_t, kMaps.size()> capacities_{};
  std::optional<ReaderBarrier> barrier_;  // made on first use: read-only users never need one
  mutable std::optional<ArrayReader> arrays_;  // made on first read of an array
};

}  // namespace socklb
