// The control plane alone, in one process: a source's events -> object
// store -> reconcile -> plan -> apply, against maps held in memory (no
// kernel). Measures what the agent's own work costs, apart from the bpf()
// calls and the wait for readers:
//
//   cold: N services x B backends arriving as one batch (an agent's start,
//         a list from the API server): service upserts per second;
//   change: one EndpointSlice upserted (one endpoint moved), K times: time
//         from the event to the map writes done, p50/p99/max;
//   heap: bytes in use after the cold batch, per service (mallinfo2), the
//         store, desired state and the carried kernel state together.
//
//   socklb-control-plane-bench --services 50000 --backends 1 --changes 200
//
// bench/run's control-plane section runs it next to the real agent's figures.

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "agent/syncer.h"
#include "store/object_store.h"

using namespace socklb;
using Clock = std::chrono::steady_clock;

namespace {

// Maps as plain in-memory tables: what the planner writes, without the
// kernel's cost, so the figure is the control plane's own.
class MemoryMaps : public MapStore {
 public:
  explicit MemoryMaps(const MapCapacities& capacities) {
    for (const auto& m : kMaps) capacity_[index(m.id)] = m.capacity(capacities);
  }
  void update(MapId map, const MapEntries& entries) override {
    auto& table = tables_[index(map)];
    for (const auto& [key, value] : entries) {
      bool zero = describe(map).kind == MapKind::Array && std::all_of(value.begin(), value.end(), [](auto b) { return b == 0; });
      if (zero) table.erase(text(key));
      else table[text(key)] = text(value);
    }
  }
  void remove(MapId map, const std::vector<Bytes>& keys) override {
    for (const auto& key : keys) tables_[index(map)].erase(text(key));
  }
  // A plan's steps come packed, as the kernel's batch calls take them.
  void update_packed(MapId map, ByteView keys, ByteView values, std::size_t count) override {
    const auto& l = describe(map);
    auto& table = tables_[index(map)];
    for (std::size_t i = 0; i < count; ++i) {
      ByteView key = keys.subspan(i * l.key_size, l.key_size), value = values.subspan(i * l.value_size, l.value_size);
      if (l.kind == MapKind::Array && std::all_of(value.begin(), value.end(), [](auto b) { return b == 0; }))
        table.erase(text(key));
      else
        table.insert_or_assign(text(key), text(value));
    }
  }
  void remove_packed(MapId map, ByteView keys, std::size_t count) override {
    const auto& l = describe(map);
    for (std::size_t i = 0; i < count; ++i) tables_[index(map)].erase(text(keys.subspan(i * l.key_size, l.key_size)));
  }
  MapEntries dump(MapId map) const override {
    MapEntries out;
    for (const auto& [key, value] : tables_[index(map)])
      out.emplace_back(Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end()));
    return out;
  }
  uint32_t capacity(MapId map) const override { return capacity_[index(map)]; }
  void wait_for_readers() override {}

 private:
  static std::size_t index(MapId map) { return static_cast<std::size_t>(map); }
  static std::string text(ByteView bytes) { return std::string(bytes.begin(), bytes.end()); }
  std::array<std::unordered_map<std::string, std::string>, kMaps.size()> tables_;
  std::array<uint32_t, kMaps.size()> capacity_{};
};

IpAddress v4(uint32_t host_order) {
  std::array<uint8_t, 4> b = {uint8_t(host_order >> 24), uint8_t(host_order >> 16), uint8_t(host_order >> 8),
                              uint8_t(host_order)};
  return *IpAddress::parse(std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                           std::to_string(b[3]));
}

std::shared_ptr<const Service> make_service(int i) {
  auto s = std::make_shared<Service>();
  s->meta = {"Service", "default", "svc-" + std::to_string(i), {}, false, {"bench.yaml", i}};
  s->cluster_ips = {v4((10u << 24 | 96u << 16) + 1 + i)};  // 10.96.0.1 on
  s->ports = {{"http", Protocol::TCP, 80, uint16_t{8080}}};
  return s;
}

std::shared_ptr<const EndpointSlice> make_slice(int i, int backends, int shift) {
  auto e = std::make_shared<EndpointSlice>();
  e->meta = {"EndpointSlice", "default", "svc-" + std::to_string(i) + "-1", {}, false, {"bench.yaml", i}};
  e->service_name = "svc-" + std::to_string(i);
  e->ports = {{"http", Protocol::TCP, 8080}};
  for (int b = 0; b < backends; ++b) {
    SliceEndpoint ep;
    ep.address = v4((10u << 24 | 128u << 16) + uint32_t(i) * 16 + b + shift);  // 10.128.0.0 on: outside the CIDRs
    e->endpoints.push_back(ep);
  }
  return e;
}

ObjectEvent upsert(Origin origin, ObjectPtr object) {
  ObjectId id = id_of(object);
  return {ObjectEvent::Type::Upsert, origin, std::move(id), std::move(object)};
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"socklb-control-plane-bench: the control plane alone (events -> store -> reconcile -> plan -> "
               "in-memory maps); prints one JSON object"};
  int services = 10000, backends = 1, changes = 100;
  app.add_option("--services", services, "services (one port each)")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  app.add_option("--backends", backends, "backends per service")->check(CLI::Range(1, 15))->capture_default_str();
  app.add_option("--changes", changes, "single-slice changes timed after the cold batch")
      ->check(CLI::Range(0, 100000))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  MapCapacities capacities;
  capacities.services = std::max<uint32_t>(capacities.services, uint32_t(services) * 2);
  capacities.backends = std::max<uint32_t>(capacities.backends, uint32_t(services) * uint32_t(backends) * 2);
  MemoryMaps maps(capacities);
  ReconcileSettings settings;
  settings.node = {"node-a", ""};
  settings.service_cidrs = default_service_cidrs();
  Syncer syncer(maps, settings);
  syncer.maps_created_empty();  // as the agent's first sync into maps it created
  ObjectStore store;

  std::size_t heap_before = mallinfo2().uordblks;
  SourceUpdate batch;
  batch.events.reserve(std::size_t(services) * 2);
  for (int i = 0; i < services; ++i) {
    Origin origin = 1 + i / 1000;  // a thousand services a file
    batch.events.push_back(upsert(origin, make_service(i)));
    batch.events.push_back(upsert(origin, make_slice(i, backends, 0)));
  }
  auto cold_start = Clock::now();
  store.apply(batch);
  auto stored = Clock::now();
  batch = {};
  SyncResult cold = syncer.sync(store);
  auto cold_took = Clock::now() - cold_start;
  std::size_t heap_after = mallinfo2().uordblks;
  // the in-memory maps stand in for the kernel's: their share is measured
  // on a copy and left out
  std::size_t maps_bytes = 0;
  {
    std::size_t before_copy = mallinfo2().uordblks;
    MemoryMaps copy = maps;
    maps_bytes = mallinfo2().uordblks - before_copy;
  }

  std::vector<double> change_ms;
  std::mt19937 rng(1);
  for (int c = 0; c < changes; ++c) {
    int i = std::uniform_int_distribution<int>(0, services - 1)(rng);
    auto start = Clock::now();
    store.apply({{upsert(1 + i / 1000, make_slice(i, backends, 1 + c % 2))}});
    syncer.sync(store);
    change_ms.push_back(ms(Clock::now() - start));
  }
  std::sort(change_ms.begin(), change_ms.end());
  auto pct = [&](double p) {
    return change_ms.empty() ? 0.0 : change_ms[std::min(change_ms.size() - 1, std::size_t(p * change_ms.size()))];
  };

  nlohmann::json out = {
      {"services", services},
      {"backends_per_service", backends},
      {"served", cold.summary.services},
      {"cold_ms", ms(cold_took)},
      // of which: the store taking the events; reconcile; plan and apply (the syncer's own split)
      {"cold_store_ms", ms(stored - cold_start)},
      {"cold_sync_ms", std::chrono::duration<double, std::milli>(cold.took).count()},
      {"cold_apply_ms", std::chrono::duration<double, std::milli>(cold.apply_took).count()},
      {"upserts_per_s", services / std::chrono::duration<double>(cold_took).count()},
      {"heap_bytes_per_service", (double(heap_after - heap_before) - double(maps_bytes)) / services},
      {"change_p50_ms", pct(0.5)},
      {"change_p99_ms", pct(0.99)},
      {"change_max_ms", change_ms.empty() ? 0.0 : change_ms.back()},
      {"changes", changes},
  };
  std::puts(out.dump().c_str());
  return cold.summary.services == std::size_t(services) ? 0 : 1;
}
