#pragma once
// Collects a plan's writes and removals map by map, then lays them out as
// steps in phase order: the order is decided here once, not by each caller.

#include <array>
#include <utility>

#include "plan/plan.h"

namespace socklb {

class PlanBuilder {
 public:
  void write(MapId map, ByteView key, ByteView value) { append(writes_[index(map)], map, PlanOp::Write, key, value); }
  void write(const std::pair<MapId, Bytes>& key, ByteView value) { write(key.first, key.second, value); }
  void remove(MapId map, ByteView key) { append(removes_[index(map)], map, PlanOp::Remove, key, {}); }
  void remove(const std::pair<MapId, Bytes>& key) { remove(key.first, key.second); }

  // Moves the steps into the plan, in the order apply_plan() documents.
  Plan finish(Plan plan);

 private:
  static std::size_t index(MapId map) { return static_cast<std::size_t>(map); }
  static void append(PlanStep& step, MapId map, PlanOp op, ByteView key, ByteView value) {
    step.map = map;
    step.op = op;
    step.keys.insert(step.keys.end(), key.begin(), key.end());
    step.values.insert(step.values.end(), value.begin(), value.end());
    ++step.count;
  }

  std::array<PlanStep, kMaps.size()> writes_{};
  std::array<PlanStep, kMaps.size()> removes_{};
};

}  // namespace socklb
