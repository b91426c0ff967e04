#pragma once
// A MapStore that keeps a copy of what it wrote, so each sync reads its
// starting point from memory instead of walking every map in the kernel.
// The copy starts from the kernel and is dropped (re-read) after any failed
// write, so it never drifts from what the maps hold. The affinity map is
// written by the BPF programs and always read from the kernel.

#include <array>
#include <map>

#include "datapath/map_store.h"

namespace socklb {

class MirroredStore : public MapStore {
 public:
  explicit MirroredStore(MapStorePtr kernel);

  void update(MapId map, const MapEntries& entries) override;
  void remove(MapId map, const std::vector<Bytes>& keys) override;
  MapEntries dump(MapId map) const override;
  uint32_t capacity(MapId map) const override { return kernel_->capacity(map); }

  void reload();  // re-read everything from the kernel

 private:
  static bool mirrored(MapId map) { return map != MapId::Affinity; }

  MapStorePtr kernel_;
  std::array<std::map<Bytes, Bytes>, kMapLayouts.size()> copy_;
};

}  // namespace socklb
