#pragma once
// What a map store serves, read back the way the programs read it:
// "ClusterIP:port/proto ns/name" -> sorted "backend:port" list.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "datapath/kernel_state.h"

namespace socklb::test {

using Served = std::map<std::string, std::vector<std::string>>;

inline Served served(const MapStore& store) {
  Served out;
  KernelState k = read_kernel_state(store);
  for (const auto& [key, id] : k.services) {
    std::vector<std::string> backends;
    if (const auto* state = k.served(key))
      for (uint32_t backend_id : k.live_backend_ids(*state).value_or(std::vector<uint32_t>{}))
        backends.push_back(decode_backend(k.backends.at(backend_id)).str());
    std::sort(backends.begin(), backends.end());
    out[key.str() + " " + k.owner(id).str()] = backends;
  }
  return out;
}

}  // namespace socklb::test
