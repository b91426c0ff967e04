#pragma once

#include <cstdint>
#include <set>

namespace socklb {

// Hands out ids not in use, counting up from the highest id the kernel
// holds. An id freed at the top may come back in a later sync; that is safe
// because every reference (an affinity entry, a socket's earlier choice) is
// checked against the backend's service_id, and a service's affinity entries
// are purged when it goes. 0 is never used: it marks "none".
class IdAllocator {
 public:
  explicit IdAllocator(std::set<uint32_t> used) : used_(std::move(used)) {
    if (!used_.empty()) next_ = *used_.rbegin() + 1;
  }

  uint32_t allocate() {
    while (next_ == 0 || used_.count(next_)) ++next_;  // wraps after 2^32 ids
    used_.insert(next_);
    return next_++;
  }

 private:
  std::set<uint32_t> used_;
  uint32_t next_ = 1;
};

}  // namespace socklb
