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

// `count` packed entries of `map` as separate key and value copies.
inline MapEntries unpack_entries(MapId map, ByteView keys, ByteView values, std::size_t count) {
  const auto& l = describe(map);
  MapEntries out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    ByteView key = keys.subspan(i * l.key_size, l.key_size), value = values.subspan(i * l.value_size, l.value_size);
    out.emplace_back(Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end()));
  }
  return out;
}

class MapStore {
 public:
  virtual ~MapStore() = default;
  // Both throw std::runtime_error naming the map and the errno on failure.
  // Writes to a locked map (MapDescriptor::locked) take each entry's lock.
  virtual void update(MapId map, const MapEntries& entries) = 0;
  // On an array, removing writes zeros: the entry is free again.
  virtual void remove(MapId map, const std::vector<Bytes>& keys) = 0;
  // The same for `count` entries packed back to back, as a plan's steps hold
  // them (key_size and value_size apart): a store that can take them so
  // (the kernel's batch calls do) writes them without a copy per entry.
  virtual void update_packed(MapId map, ByteView keys, ByteView values, std::size_t count) {
    update(map, unpack_entries(map, keys, values, count));
  }
  virtual void remove_packed(MapId map, ByteView keys, std::size_t count) {
    std::vector<Bytes> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      ByteView key = keys.subspan(i * describe(map).key_size, describe(map).key_size);
      out.emplace_back(key.begin(), key.end());
    }
    remove(map, out);
  }
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
