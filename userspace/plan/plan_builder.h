#pragma once
// Collects a plan's writes and removals map by map and phase by phase, then
// lays them out as steps in phase order: the order is decided here once
// (plan.cpp), not by each caller.

#include <array>
#include <utility>

#include "plan/plan.h"

namespace socklb {

class PlanBuilder {
 public:
  // A write in the phase the map is written in (plan.cpp), or in `phase`.
  void write(MapId map, ByteView key, ByteView value, int phase = 0);
  void write(const MapKey& key, ByteView value, int phase = 0) { write(key.map, key.view(), value, phase); }
  // A removal in the phase the map is removed in (plan.cpp), or in `phase`:
  // 3 for an entry that only refers (a ClusterIP's), 4 for what a connect in
  // flight may still read.
  void remove(MapId map, ByteView key, int phase = 0);
  void remove(const MapKey& key, int phase = 0) { remove(key.map, key.view(), phase); }

  // Room for `entries` more writes to `map` in its phase: a full plan knows
  // how many it makes, and its buffers then grow once instead of doubling
  // (at 100,000 services the doubling's slack and copies were 80 MB).
  void reserve_writes(MapId map, std::size_t entries);

  // Moves the steps into the plan, in the order plan.cpp documents.
  Plan finish(Plan plan);

 private:
  static std::size_t index(MapId map) { return static_cast<std::size_t>(map); }
  static void append(PlanStep& step, MapId map, PlanOp op, int phase, ByteView key, ByteView value) {
    step.map = map;
    step.op = op;
    step.phase = phase;
    step.keys.insert(step.keys.end(), key.begin(), key.end());
    step.values.insert(step.values.end(), value.begin(), value.end());
    ++step.count;
  }

  std::array<std::array<PlanStep, kMaps.size()>, 3> writes_{};  // phases 1..3
  std::array<std::array<PlanStep, kMaps.size()>, 2> removes_{};  // phases 3..4
};

}  // namespace socklb
