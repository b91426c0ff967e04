#include "plan/apply_plan.h"

#include <map>

#include <spdlog/spdlog.h>

namespace socklb {
namespace {

// Groups writes per map so each map gets one batch.
class Batches {
 public:
  void put(std::pair<MapId, Bytes> key, Bytes value) { updates_[key.first].emplace_back(std::move(key.second), std::move(value)); }
  void put(MapId map, Bytes key, Bytes value) { updates_[map].emplace_back(std::move(key), std::move(value)); }
  void del(std::pair<MapId, Bytes> key) { deletes_[key.first].push_back(std::move(key.second)); }
  void del(MapId map, Bytes key) { deletes_[map].push_back(std::move(key)); }

  void flush(MapStore& store) {
    for (auto& [map, entries] : updates_) store.update(map, entries);
    for (auto& [map, keys] : deletes_) store.remove(map, keys);
    updates_.clear();
    deletes_.clear();
  }

 private:
  std::map<MapId, MapEntries> updates_;
  std::map<MapId, std::vector<Bytes>> deletes_;
};

void purge_affinity(const std::vector<uint32_t>& service_ids, MapStore& store) {
  if (service_ids.empty()) return;
  std::vector<Bytes> stale;
  for (const auto& [key, value] : store.dump(MapId::Affinity)) {
    auto k = from_bytes<socklb_affinity_key>(key);
    if (std::find(service_ids.begin(), service_ids.end(), k.service_id) != service_ids.end()) stale.push_back(key);
  }
  if (!stale.empty()) store.remove(MapId::Affinity, stale);
}

}  // namespace

std::size_t Plan::writes() const {
  return write_names.size() + write_vips.size() + write_backends.size() + write_slots.size() + write_services.size() +
         delete_services.size() + delete_slots.size() + delete_backends.size() + purge_affinity.size() +
         delete_names.size() + delete_vips.size();
}

void apply_plan(const Plan& plan, MapStore& store) {
  Batches batch;

  // 1. Names, VIPs and backends first: nothing refers to a new one yet, so a
  //    connect cannot see them half-made. A new VIP with no service entry
  //    yet refuses connects, as the ClusterIP did not serve before either.
  // The debug lines mark the phases for tests that SIGKILL the agent inside one.
  spdlog::debug("apply phase 1: {} names, {} VIPs, {} backends", plan.write_names.size(), plan.write_vips.size(),
                plan.write_backends.size());
  for (const auto& [id, name] : plan.write_names) batch.put(MapId::ServiceNames, to_bytes(id), to_bytes(name));
  for (const auto& [vip, value] : plan.write_vips) batch.put(encode_vip_key(vip), to_bytes(value));
  for (const auto& [id, backend] : plan.write_backends) batch.put(MapId::Backends, to_bytes(id), to_bytes(backend));
  batch.flush(store);

  // 2. The new slot sets, under the revision each service does not read:
  //    every backend they name exists since phase 1.
  spdlog::debug("apply phase 2: {} slots", plan.write_slots.size());
  for (const auto& [slot, backend_id] : plan.write_slots)
    batch.put(MapId::Slots, to_bytes(slot.key()), to_bytes(socklb_slot_value{backend_id}));
  batch.flush(store);

  // 3. The flip: one value per service switches revision and count at once,
  //    so a connect sees the whole old set or the whole new one.
  spdlog::debug("apply phase 3: {} services switched", plan.write_services.size());
  for (const auto& [key, value] : plan.write_services) batch.put(encode_service_key(key), to_bytes(value));
  batch.flush(store);

  // 4. Removals, referrers first: services, then the slots no service reads
  //    any more, then backends no slot names. A connect that read a service
  //    just before its flip and misses a slot re-reads the service (bpf/lb.h).
  spdlog::debug("apply phase 4: {} services, {} slots, {} backends removed", plan.delete_services.size(),
                plan.delete_slots.size(), plan.delete_backends.size());
  for (const auto& key : plan.delete_services) batch.del(encode_service_key(key));
  batch.flush(store);
  for (const auto& slot : plan.delete_slots) batch.del(MapId::Slots, to_bytes(slot.key()));
  batch.flush(store);
  for (const auto& id : plan.delete_backends) batch.del(MapId::Backends, to_bytes(id));
  for (const auto& id : plan.delete_names) batch.del(MapId::ServiceNames, to_bytes(id));
  for (const auto& vip : plan.delete_vips) batch.del(encode_vip_key(vip));
  batch.flush(store);
  purge_affinity(plan.purge_affinity, store);
}

}  // namespace socklb
