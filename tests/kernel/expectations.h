#pragma once
// Small summaries of connect attempts that the tests assert on.

#include <map>
#include <string>
#include <vector>

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

// Entries in a pinned map, counted with bpftool as an operator would.
inline std::size_t map_entries(const Testbed& node, const std::string& map) {
  auto dump = nlohmann::json::parse(sh("bpftool -j map dump pinned " + (node.bpffs() / map).string()));
  return dump.size();
}

inline std::string describe(const std::vector<Attempt>& attempts) {
  std::string out;
  for (const auto& [backend, n] : count_by_backend(attempts)) out += backend + " x" + std::to_string(n) + "; ";
  return out;
}

}  // namespace kt
