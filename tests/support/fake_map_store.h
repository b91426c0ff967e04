#pragma once
// An in-memory MapStore for the unit tests. Batches are split into single
// key writes and deletes, as the kernel applies them one at a time; an
// optional checker runs after every one of them, so a test sees each
// intermediate state a connect() could see.
//
// It also models the connects in flight: every service entry (and the slot
// set and backends it names) that was live at any moment since the last
// wait_for_readers() may still be in use by a connect that read it then.

#include <array>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "maps/map_store.h"
#include "plan/id_quarantine.h"

namespace socklb::test {

class FakeMapStore : public MapStore {
 public:
  // Returns what is wrong with the maps now; empty when all is well.
  using Checker = std::function<std::vector<std::string>(const FakeMapStore&)>;

  explicit FakeMapStore(uint32_t capacity_per_map = 1024);

  void update(MapId map, const MapEntries& entries) override;  // throws std::runtime_error when full
  void remove(MapId map, const std::vector<Bytes>& keys) override;  // a missing key is not an error
  MapEntries dump(MapId map) const override;
  uint32_t capacity(MapId map) const override { return capacity_[index(map)]; }
  void wait_for_readers() override;

  void set_capacity(MapId map, uint32_t capacity) { capacity_[index(map)] = capacity; }
  std::size_t size(MapId map) const { return maps_[index(map)].size(); }
  std::size_t barriers() const { return barriers_; }

  // Runs checker after every single write and delete from now on; what it
  // reports lands in violations(), tagged with the operation just done.
  void check_after_every_write(Checker checker) { checker_ = std::move(checker); }
  const std::vector<std::string>& violations() const { return violations_; }

  // The n-th single write or delete from now on throws std::runtime_error
  // instead of happening, as a failed bpf() call would; once.
  void fail_at_operation(std::size_t n) { fail_at_ = operations_ + n; }
  std::size_t operations() const { return operations_; }

  // A service entry as a connect may hold it: its key, id, revision and
  // count, and the backend ids it names itself (a small service's).
  using Snapshot = std::tuple<std::string, uint32_t, uint8_t, uint16_t, std::vector<uint32_t>>;
  // What connects that started since the last wait_for_readers() may hold.
  const std::set<Snapshot>& in_flight() const { return in_flight_; }

  // The ids the plans applied to this store freed, as the agent keeps them
  // (the plan tests have no agent).
  IdQuarantine quarantine;

 private:
  static std::size_t index(MapId map) { return static_cast<std::size_t>(map); }
  void before_operation(MapId map);
  void after(const char* what, MapId map);
  void note_in_flight();

  std::array<std::map<Bytes, Bytes>, kMaps.size()> maps_;
  std::array<uint32_t, kMaps.size()> capacity_{};
  Checker checker_;
  std::vector<std::string> violations_;
  std::size_t operations_ = 0;
  std::size_t fail_at_ = 0;  // 0: never
  std::size_t barriers_ = 0;
  std::set<Snapshot> in_flight_;
};

// The datapath invariant (docs/datapath.md), for every connect that may be in
// flight: every service entry it may have read still finds its whole slot set,
// each slot naming a backend of that service, and its id still names its key
// (or nothing); every ClusterIP served has its VIP entry.
std::vector<std::string> datapath_invariant_violations(const FakeMapStore& store);

}  // namespace socklb::test
