#pragma once
// The maps as key/value stores. The kernel implementation writes pinned BPF
// maps; tests use an in-memory one. Everything above this interface (the
// plan, the read-back) runs without a kernel.

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "maps/map_layout.h"

namespace socklb {

using MapEntries = std::vector<std::pair<Bytes, Bytes>>;

class MapStore {
 public:
  virtual ~MapStore() = default;
  // Both throw std::runtime_error naming the map and the errno on failure.
  // Writes to a locked map (MapDescriptor::locked) take each entry's lock.
  virtual void update(MapId map, const MapEntries& entries) = 0;
  // On an array, removing writes zeros: the entry is free again.
  virtual void remove(MapId map, const std::vector<Bytes>& keys) = 0;
  // Every entry; on an array only those that are not all zeros.
  virtual MapEntries dump(MapId map) const = 0;
  // The entries of these keys, as dump() would give them (on an array, not
  // those of all zeros), at a cost that follows the keys rather than the map:
  // for the counters of a few services in an array sized for 100,000s.
  virtual MapEntries lookup(MapId map, const std::vector<Bytes>& keys) const {
    MapEntries out;
    for (auto& entry : dump(map))
      if (std::find(keys.begin(), keys.end(), entry.first) != keys.end()) out.push_back(std::move(entry));
    return out;
  }
  virtual uint32_t capacity(MapId map) const = 0;  // max_entries
  // Returns once every program run that started before the call has ended
  // (an RCU grace period): whatever they read from the maps, nobody reads it
  // any more. The planner removes entries and reuses ids only after this.
  virtual void wait_for_readers() = 0;
};

using MapStorePtr = std::unique_ptr<MapStore>;

}  // namespace socklb
