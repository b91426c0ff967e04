#include "fake_map_store.h"

#include <stdexcept>

#include "datapath/kernel_state.h"

namespace socklb::test {

FakeMapStore::FakeMapStore(uint32_t capacity_per_map) { capacity_.fill(capacity_per_map); }

void FakeMapStore::update(MapId map, const MapEntries& entries) {
  const auto& layout = layout_of(map);
  auto& m = maps_[index(map)];
  for (const auto& [key, value] : entries) {
    if (key.size() != layout.key_size || value.size() != layout.value_size)
      throw std::logic_error("map " + std::string(layout.name) + ": entry of the wrong size");
    before_operation(map);
    if (!m.count(key) && m.size() >= capacity(map))
      throw std::runtime_error("map " + std::string(layout.name) + " is full (E2BIG)");
    m[key] = value;
    after("update", map);
  }
}

void FakeMapStore::remove(MapId map, const std::vector<Bytes>& keys) {
  for (const auto& key : keys) {
    before_operation(map);
    maps_[index(map)].erase(key);
    after("delete", map);
  }
}

MapEntries FakeMapStore::dump(MapId map) const {
  const auto& m = maps_[index(map)];
  return MapEntries(m.begin(), m.end());
}

void FakeMapStore::before_operation(MapId map) {
  if (fail_at_ == 0 || operations_ + 1 != fail_at_) return;
  fail_at_ = 0;
  throw std::runtime_error("map " + std::string(layout_of(map).name) + ": injected failure");
}

void FakeMapStore::after(const char* what, MapId map) {
  ++operations_;
  if (!checker_) return;
  for (const auto& problem : checker_(*this))
    violations_.push_back("after " + std::string(what) + " #" + std::to_string(operations_) + " in " +
                          std::string(layout_of(map).name) + ": " + problem);
}

std::vector<std::string> datapath_invariant_violations(const FakeMapStore& store) {
  std::vector<std::string> problems;
  KernelState state = read_kernel_state(store);
  for (const auto& [key, service] : state.services) {
    if (!state.vips.count(key.vip)) problems.push_back(key.str() + ": no VIP entry, connects pass untranslated");
    for (uint16_t i = 0; i < service.backend_count; ++i) {
      auto slot = state.slots.find({service.id, service.revision, i});
      std::string where = key.str() + " slot (" + std::to_string(service.id) + ", rev " +
                          std::to_string(service.revision) + ", " + std::to_string(i) + ")";
      if (slot == state.slots.end()) {
        problems.push_back(where + " is missing");
        continue;
      }
      auto backend = state.backends.find(slot->second);
      if (backend == state.backends.end())
        problems.push_back(where + " names missing backend " + std::to_string(slot->second));
      else if (backend->second.service_id != service.id)
        problems.push_back(where + " names backend " + std::to_string(slot->second) + " of service " +
                           std::to_string(backend->second.service_id));
    }
  }
  return problems;
}

}  // namespace socklb::test
