#pragma once
#include <time.h>

#include <cstdint>

namespace loadgen {

// CLOCK_MONOTONIC in ns: the same clock as Python's time.monotonic_ns(), so
// bench/run can compare its own timestamps with ours.
inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace loadgen
