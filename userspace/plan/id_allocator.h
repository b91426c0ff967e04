#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <vector>

namespace socklb {

// Hands out ids of an array map: 1 .. capacity-1, none that is in use or
// waiting out its quarantine (passed in `used` too). It counts up from the
// highest id in use and wraps, so a freed id comes back as late as possible.
// 0 is never used: it marks "none" and a free entry.
//
// The ids in use are kept as a sorted vector: a sync builds this from every
// backend of every service, and a vector is one allocation where a set was
// one per id.
class IdAllocator {
 public:
  IdAllocator(std::vector<uint32_t> used, uint32_t capacity) : used_(std::move(used)), capacity_(capacity) {
    if (!std::is_sorted(used_.begin(), used_.end())) std::sort(used_.begin(), used_.end());
    used_.erase(std::unique(used_.begin(), used_.end()), used_.end());
    std::erase_if(used_, [&](uint32_t id) { return id == 0 || id >= capacity_; });
    next_ = used_.empty() ? 1 : used_.back() + 1;
  }

  // nullopt when every id is taken.
  std::optional<uint32_t> allocate() {
    if (available() == 0) return std::nullopt;
    for (;;) {
      if (next_ == 0 || next_ >= capacity_) next_ = 1;
      uint32_t id = next_++;
      if (!in_use(id)) {
        allocated_.insert(id);
        return id;
      }
    }
  }

  std::size_t available() const {
    std::size_t taken = used_.size() + allocated_.size();
    return capacity_ > 1 + taken ? capacity_ - 1 - taken : 0;
  }

 private:
  bool in_use(uint32_t id) const { return std::binary_search(used_.begin(), used_.end(), id) || allocated_.count(id); }

  std::vector<uint32_t> used_;    // sorted
  std::set<uint32_t> allocated_;  // handed out since
  uint32_t capacity_;
  uint32_t next_ = 1;
};

}  // namespace socklb
