#pragma once
// What one load generator run does; filled from the command line.
#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

namespace loadgen {

enum class Workload { crr, rr, stream };

struct Options {
  Workload workload = Workload::crr;
  std::vector<sockaddr_in> targets;  // connections go round-robin over these
  unsigned threads = 1;
  unsigned connections = 16;  // in flight per thread
  double warmup_s = 0.5;      // run, but not measured
  double duration_s = 5;      // measured
  size_t request_size = 64;
  size_t response_size = 64;
  size_t stream_chunk = 64 * 1024;
};

}  // namespace loadgen
