#pragma once
// The value of a per-CPU map entry as the bpf() system calls exchange it:
// one copy per possible CPU, each padded to 8 bytes. socklb's per-CPU maps
// hold u64 counters (MapDescriptor::per_cpu), so reading one means adding
// the copies word by word. Pure: the CPU count is an argument.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "maps/map_layout.h"

namespace socklb {

inline std::size_t per_cpu_stride(uint32_t value_size) { return (value_size + 7) / 8 * 8; }

// The sum over `cpus` copies of a value of u64 words, as value_size bytes.
inline Bytes sum_per_cpu(ByteView copies, uint32_t value_size, std::size_t cpus) {
  Bytes out(value_size, 0);
  std::size_t stride = per_cpu_stride(value_size);
  for (std::size_t cpu = 0; cpu < cpus; ++cpu)
    for (std::size_t word = 0; word + 8 <= value_size; word += 8) {
      uint64_t sum, add;
      std::memcpy(&sum, out.data() + word, 8);
      std::memcpy(&add, copies.data() + cpu * stride + word, 8);
      sum += add;
      std::memcpy(out.data() + word, &sum, 8);
    }
  return out;
}

// The same value for every CPU's copy.
inline Bytes replicate_per_cpu(ByteView value, std::size_t cpus) {
  std::size_t stride = per_cpu_stride(static_cast<uint32_t>(value.size()));
  Bytes out(stride * cpus, 0);
  for (std::size_t cpu = 0; cpu < cpus; ++cpu) std::memcpy(out.data() + cpu * stride, value.data(), value.size());
  return out;
}

}  // namespace socklb
