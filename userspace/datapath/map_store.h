#pragma once
// The maps as key/value stores. The kernel implementation writes pinned BPF
// maps; tests use an in-memory one. Everything above this interface (the
// plan, the read-back) runs without a kernel.

#include <memory>
#include <utility>
#include <vector>

#include "datapath/map_layout.h"

namespace socklb {

using MapEntries = std::vector<std::pair<Bytes, Bytes>>;

class MapStore {
 public:
  virtual ~MapStore() = default;
  // Both throw std::runtime_error naming the map and the errno on failure.
  virtual void update(MapId map, const MapEntries& entries) = 0;
  virtual void remove(MapId map, const std::vector<Bytes>& keys) = 0;
  virtual MapEntries dump(MapId map) const = 0;
  virtual uint32_t capacity(MapId map) const = 0;  // max_entries
};

using MapStorePtr = std::unique_ptr<MapStore>;

}  // namespace socklb
