#pragma once
// Waits for every BPF program run in flight to end (an RCU grace period),
// from userspace. The kernel does exactly this after each update of a
// map-in-map ("so that userspace knows no program still uses the old inner
// map"), so one tiny array-of-maps whose only slot is rewritten serves as the
// barrier: documented BPF behaviour, no extra privilege, about 8 ms here.

#include "sys/unique_fd.h"

namespace socklb {

class ReaderBarrier {
 public:
  ReaderBarrier();  // throws SystemError when the maps cannot be made
  void wait() const;

 private:
  UniqueFd inner_;
  UniqueFd outer_;
};

}  // namespace socklb
