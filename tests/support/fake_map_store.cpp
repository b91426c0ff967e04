#include "fake_map_store.h"

#include <stdexcept>

#include "maps/kernel_state.h"

namespace socklb::test {

FakeMapStore::FakeMapStore(uint32_t capacity_per_map) { capacity_.fill(capacity_per_map); }

void FakeMapStore::update(MapId map, const MapEntries& entries) {
  const auto& m = describe(map);
  auto& stored = maps_[index(map)];
  for (const auto& [key, value] : entries) {
    if (key.size() != m.key_size || value.size() != m.value_size)
      throw std::logic_error("map " + std::string(m.name) + ": entry of the wrong size");
    before_operation(map);
    if (m.kind == MapKind::Array) {
      if (from_bytes<uint32_t>(key) >= capacity(map))
        throw std::runtime_error("map " + std::string(m.name) + ": index out of range (E2BIG)");
      if (all_zero(value)) stored.erase(key);  // zeros: free
      else stored[key] = value;
    } else {
      if (!stored.count(key) && stored.size() >= capacity(map))
        throw std::runtime_error("map " + std::string(m.name) + " is full (E2BIG)");
      stored[key] = value;
    }
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

void FakeMapStore::wait_for_readers() {
  ++barriers_;
  in_flight_.clear();
  note_in_flight();  // connects that start now see what is live now
}

void FakeMapStore::before_operation(MapId map) {
  if (fail_at_ == 0 || operations_ + 1 != fail_at_) return;
  fail_at_ = 0;
  throw std::runtime_error("map " + std::string(describe(map).name) + ": injected failure");
}

void FakeMapStore::note_in_flight() {
  KernelState state = read_kernel_state(*this);
  for (const auto& [key, id] : state.services)
    if (const socklb_service_state* s = state.served(key)) {
      std::vector<uint32_t> inline_ids;
      if (backends_inline(s->backend_count)) inline_ids.assign(s->backend_ids, s->backend_ids + s->backend_count);
      in_flight_.insert({key.str(), id, s->revision, s->backend_count, inline_ids});
    }
}

void FakeMapStore::after(const char* what, MapId map) {
  ++operations_;
  note_in_flight();  // a connect may read the maps as they are after this write
  if (!checker_) return;
  for (const auto& problem : checker_(*this))
    violations_.push_back("after " + std::string(what) + " #" + std::to_string(operations_) + " in " +
                          std::string(describe(map).name) + ": " + problem);
}

std::vector<std::string> datapath_invariant_violations(const FakeMapStore& store) {
  std::vector<std::string> problems;
  KernelState state = read_kernel_state(store);
  for (const auto& [key, id] : state.services) {
    if (!state.served(key)) continue;  // its id names another key: a connect reads again (bpf/lb.h)
    auto addr = state.addrs.find(key.vip);
    if (addr == state.addrs.end() || !addr_is_vip(addr->second))
      problems.push_back(key.str() + ": no VIP entry, connects pass untranslated");
  }
  std::map<std::string, uint32_t> keys;
  for (const auto& [key, id] : state.services) keys[key.str()] = id;
  for (const auto& [key_text, id, revision, count, inline_ids] : store.in_flight()) {
    std::string who = key_text + " (id " + std::to_string(id) + ", rev " + std::to_string(revision) + ")";
    if (auto s = state.states.find(id); s != state.states.end() && state_key(s->second).str() != key_text)
      problems.push_back(who + ": its id now names " + state_key(s->second).str() + " while a connect may hold it");
    // Once the key no longer leads to this id, a connect that misses a slot
    // reads the key again and is refused, as it would be after the removal.
    auto now = keys.find(key_text);
    if (now == keys.end() || now->second != id) continue;
    for (uint16_t i = 0; i < count; ++i) {
      std::string where = who + " slot " + std::to_string(i);
      uint32_t backend_id;
      if (backends_inline(count)) {
        backend_id = inline_ids[i];
      } else {
        auto slot = state.slots.find({id, revision, i});
        if (slot == state.slots.end()) {
          problems.push_back(where + " is missing");
          continue;
        }
        backend_id = slot->second;
      }
      auto backend = state.backends.find(backend_id);
      if (backend == state.backends.end())
        problems.push_back(where + " names missing backend " + std::to_string(backend_id));
      else if (backend->second.service_id != id)
        problems.push_back(where + " names backend " + std::to_string(backend_id) + " of service " +
                           std::to_string(backend->second.service_id));
    }
  }
  return problems;
}

}  // namespace socklb::test
