#pragma once
#include <string>

#include "options.h"
#include "report.h"

namespace loadgen {

// One thread's share of CRR or RR, measured between warmup_end_ns and end_ns.
Tally run_request_reply(const Options& options, unsigned thread_index, uint64_t warmup_end_ns, uint64_t end_ns);

// One thread's bulk sender (one connection per thread).
Tally run_stream(const Options& options, unsigned thread_index, uint64_t warmup_end_ns, uint64_t end_ns);

// Connects until a response starts with `label`; prints the time of that
// connect. Used to time how fast an endpoint change takes effect.
int wait_for_backend(const sockaddr_in& target, const std::string& label, double timeout_s, size_t request_size,
                     size_t response_size);

}  // namespace loadgen
