#pragma once
// Reads socklb's arrays back (bpf/array_reader.bpf.c): map iterators walk an
// array in the kernel and write out only its entries in use, where the batch
// lookup system call costs hundreds of nanoseconds for every index, free or
// not (about 200 ms for the default capacities).

#include <memory>
#include <optional>
#include <string>

#include "maps/map_store.h"

namespace socklb {

class ArrayReader {
 public:
  // Why this kernel refuses the map iterators (some builds refuse
  // iter/bpf_map_elem even to root while they load iter/tcp), or nullopt
  // when it loads them. Probed once a process with a program of two
  // instructions, so a refusal is not logged by libbpf at every read.
  static std::optional<std::string> refused();

  ArrayReader();  // loads the iterators; throws SystemError with the reason
  ~ArrayReader();
  ArrayReader(const ArrayReader&) = delete;
  ArrayReader& operator=(const ArrayReader&) = delete;

  // The entries in use of the array `map` (open as map_fd): (index, value).
  MapEntries read(MapId map, int map_fd) const;

 private:
  struct Programs;
  std::unique_ptr<Programs> programs_;
};

}  // namespace socklb
