#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <vector>

namespace socklb {

// Hands out ids of an array map: 1 .. capacity-1, none that is in use or
// waiting out its quarantine. It counts up from the highest id in use and
// wraps, so a freed id comes back as late as possible. 0 is never used: it
// marks "none" and a free entry.
class IdAllocator {
 public:
  // What is taken, as a sorted list of every id: a full plan builds it from
  // every entry of the maps (a vector is one allocation where a set was one
  // per id).
  IdAllocator(std::vector<uint32_t> used, uint32_t capacity) : used_(std::move(used)), capacity_(capacity) {
    if (!std::is_sorted(used_.begin(), used_.end())) std::sort(used_.begin(), used_.end());
    used_.erase(std::unique(used_.begin(), used_.end()), used_.end());
    std::erase_if(used_, [&](uint32_t id) { return id == 0 || id >= capacity_; });
    used_count_ = used_.size();
    next_ = used_.empty() ? 1 : used_.back() + 1;
    taken_ = [this](uint32_t id) { return std::binary_search(used_.begin(), used_.end(), id); };
  }

  // What is taken, as a question and a count: a plan of a few services asks
  // the maps it carries rather than listing them. `highest`: the highest id
  // taken, where the search starts.
  IdAllocator(std::function<bool(uint32_t)> taken, std::size_t used_count, uint32_t highest, uint32_t capacity)
      : capacity_(capacity), next_(highest + 1), used_count_(used_count), taken_(std::move(taken)) {}

  IdAllocator(const IdAllocator&) = delete;  // the first one's question refers to its own list
  IdAllocator& operator=(const IdAllocator&) = delete;

  // nullopt when every id is taken.
  std::optional<uint32_t> allocate() {
    if (available() == 0) return std::nullopt;
    for (uint64_t tries = 0; tries < capacity_; ++tries) {
      if (next_ == 0 || next_ >= capacity_) next_ = 1;
      uint32_t id = next_++;
      if (!taken_(id) && !allocated_.count(id)) {
        allocated_.insert(id);
        return id;
      }
    }
    return std::nullopt;
  }

  std::size_t available() const {
    std::size_t taken = used_count_ + allocated_.size();
    return capacity_ > 1 + taken ? capacity_ - 1 - taken : 0;
  }

 private:
  std::vector<uint32_t> used_;    // sorted (the first constructor)
  std::set<uint32_t> allocated_;  // handed out since
  uint32_t capacity_;
  uint32_t next_ = 1;
  std::size_t used_count_ = 0;
  std::function<bool(uint32_t)> taken_;
};

}  // namespace socklb
