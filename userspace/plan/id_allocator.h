#pragma once

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

namespace socklb {

// Hands out ids not in use, counting up from the highest id the kernel
// holds. An id freed at the top may come back in a later sync; that is safe
// because every reference (an affinity entry, a socket's earlier choice) is
// checked against the backend's service_id, and a service's affinity entries
// are purged when it goes. 0 is never used: it marks "none".
//
// The ids in use are kept as a sorted vector: a sync builds this from every
// backend of every service, and a vector is one allocation where a set was
// one per id.
class IdAllocator {
 public:
  explicit IdAllocator(std::vector<uint32_t> used) : used_(std::move(used)) {
    if (!std::is_sorted(used_.begin(), used_.end())) std::sort(used_.begin(), used_.end());
    used_.erase(std::unique(used_.begin(), used_.end()), used_.end());
    if (!used_.empty()) next_ = used_.back() + 1;
  }

  uint32_t allocate() {
    while (next_ == 0 || in_use(next_)) ++next_;  // wraps after 2^32 ids
    allocated_.insert(next_);
    return next_++;
  }

 private:
  bool in_use(uint32_t id) const { return std::binary_search(used_.begin(), used_.end(), id) || allocated_.count(id); }

  std::vector<uint32_t> used_;   // sorted
  std::set<uint32_t> allocated_;  // handed out since
  uint32_t next_ = 1;
};

}  // namespace socklb
