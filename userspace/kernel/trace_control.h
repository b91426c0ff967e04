#pragma once
// Who may trace, and when the programs write trace events (bpf/trace.h).
//
// The flag (trace_ctl) is what the programs read: nonzero, the pid of the
// tracer. The lock is an exclusive flock() on the bpffs directory, held by
// the tracer for as long as the flag is its own. The kernel drops a lock
// with the last descriptor of its process, also on SIGKILL, so a flag that
// is set while nobody holds the lock was left by a tracer that was killed:
// the next tracer takes it over, and the agent clears it on its next round
// (every 10 s). Until then the programs write events nobody reads: once the
// ring buffer is full each decision costs a failed reservation and a drop
// count, not a wrong answer.

#include <cstdint>
#include <filesystem>
#include <optional>

#include "sys/unique_fd.h"

namespace socklb {

class TraceControl {
 public:
  // Takes the lock (throws naming the running tracer when another holds
  // it) and opens the trace maps pinned under bpffs_dir. A flag left by a
  // killed tracer is cleared here: abandoned_by() names it.
  explicit TraceControl(const std::filesystem::path& bpffs_dir);
  ~TraceControl();  // turns the trace off, then releases the lock
  TraceControl(const TraceControl&) = delete;
  TraceControl& operator=(const TraceControl&) = delete;

  void turn_on();  // the programs write events from now on
  void turn_off();
  int events_fd() const { return events_.get(); }
  // Events lost so far by every tracer (totals.trace_drops): the ring buffer was full.
  uint64_t drops() const;
  std::optional<uint32_t> abandoned_by() const { return abandoned_by_; }
  // The ring buffer pinned now is not the one this reads (an agent of another
  // layout migrated the maps and pinned new ones in their place, whose
  // programs write there and read their own flag), or none is pinned any more
  // (`socklb uninstall`): no more events come here.
  bool maps_replaced() const;

 private:
  std::filesystem::path bpffs_dir_;
  uint32_t events_id_ = 0;  // the ring buffer's map id
  UniqueFd lock_, ctl_, events_, totals_;
  bool on_ = false;
  std::optional<uint32_t> abandoned_by_;
};

// For the agent: turns off a trace whose tracer is gone (nobody holds the
// lock, the flag is set). Returns the pid the flag named, if it did; nullopt
// when there was nothing to do or a tracer is running.
std::optional<uint32_t> clear_abandoned_trace(const std::filesystem::path& bpffs_dir);

}  // namespace socklb
