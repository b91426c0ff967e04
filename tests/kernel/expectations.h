#pragma once
// Small summaries of connect attempts that the tests assert on.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "kernel/pinned_maps.h"
#include "testbed.h"

namespace kt {

inline std::map<std::string, int> count_by_backend(const std::vector<Attempt>& attempts) {
  std::map<std::string, int> counts;
  for (const auto& a : attempts) counts[a.ok ? a.backend : "error:" + a.error]++;
  return counts;
}

inline int count_ok(const std::vector<Attempt>& attempts) {
  int n = 0;
  for (const auto& a : attempts) n += a.ok;
  return n;
}

// Entries in a pinned map: a hash map counted with bpftool as an operator
// would; an array (which has all its entries always, those of all zeros
// free) through the agent's own reader, as a dump of every index is large.
inline std::size_t map_entries(const Testbed& node, const std::string& map) {
  const socklb::MapDescriptor* m = socklb::find_map(map);
  if (m && m->kind == socklb::MapKind::Array)
    return socklb::PinnedMaps::open(node.bpffs(), /*read_only=*/true)->dump(m->id).size();
  auto dump = nlohmann::json::parse(sh("bpftool -j map dump pinned " + (node.bpffs() / map).string()));
  return dump.size();
}

inline std::string describe(const std::vector<Attempt>& attempts) {
  std::string out;
  for (const auto& [backend, n] : count_by_backend(attempts)) out += backend + " x" + std::to_string(n) + "; ";
  return out;
}

}  // namespace kt
