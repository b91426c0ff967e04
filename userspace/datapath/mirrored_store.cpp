#include "datapath/mirrored_store.h"

namespace socklb {

MirroredStore::MirroredStore(MapStorePtr kernel) : kernel_(std::move(kernel)) { reload(); }

void MirroredStore::reload() {
  for (const auto& l : kMapLayouts) {
    auto& copy = copy_[static_cast<std::size_t>(l.id)];
    copy.clear();
    if (!mirrored(l.id)) continue;
    for (auto& [k, v] : kernel_->dump(l.id)) copy.emplace(std::move(k), std::move(v));
  }
}

void MirroredStore::update(MapId map, const MapEntries& entries) {
  try {
    kernel_->update(map, entries);
  } catch (...) {
    reload();
    throw;
  }
  if (!mirrored(map)) return;
  auto& copy = copy_[static_cast<std::size_t>(map)];
  for (const auto& [k, v] : entries) copy[k] = v;
}

void MirroredStore::remove(MapId map, const std::vector<Bytes>& keys) {
  try {
    kernel_->remove(map, keys);
  } catch (...) {
    reload();
    throw;
  }
  if (!mirrored(map)) return;
  auto& copy = copy_[static_cast<std::size_t>(map)];
  for (const auto& k : keys) copy.erase(k);
}

MapEntries MirroredStore::dump(MapId map) const {
  if (!mirrored(map)) return kernel_->dump(map);
  const auto& copy = copy_[static_cast<std::size_t>(map)];
  return MapEntries(copy.begin(), copy.end());
}

}  // namespace socklb
