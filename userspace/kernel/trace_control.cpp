#include "kernel/trace_control.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "kernel/pinned_maps.h"
#include "maps/per_cpu.h"
#include "sys/sys_error.h"

namespace socklb {
namespace {

constexpr uint32_t kKey = 0;

UniqueFd open_pin(const std::filesystem::path& dir, std::string_view name) {
  auto path = map_pin_path(dir, name);
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      throw std::runtime_error("no " + std::string(name) + " pinned at " + path.string() +
                               ": is an agent of this socklb version installed with this --bpffs?");
    throw SystemError("cannot open " + path.string(), err, err == EPERM || err == EACCES ? "run as root" : "");
  }
  return UniqueFd(fd);
}

uint32_t map_id(int fd) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) throw SystemError("cannot inspect the trace ring buffer", errno);
  return info.id;
}

// The lock, or an empty descriptor when another process holds it.
UniqueFd try_lock(const std::filesystem::path& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw SystemError("cannot open " + dir.string(), errno, errno == ENOENT ? "is the agent installed with this --bpffs?" : "");
  if (flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
  if (errno != EWOULDBLOCK) throw SystemError("cannot lock " + dir.string(), errno);
  return UniqueFd();
}

uint32_t read_flag(int ctl_fd) {
  socklb_trace_ctl ctl{};
  if (bpf_map_lookup_elem(ctl_fd, &kKey, &ctl) != 0) throw SystemError("cannot read the trace flag", errno);
  return ctl.tracer_pid;
}

void write_flag(int ctl_fd, uint32_t pid) {
  socklb_trace_ctl ctl{pid, 0};
  if (bpf_map_update_elem(ctl_fd, &kKey, &ctl, BPF_ANY) != 0) throw SystemError("cannot set the trace flag", errno);
}

}  // namespace

TraceControl::TraceControl(const std::filesystem::path& bpffs_dir) : bpffs_dir_(bpffs_dir) {
  ctl_ = open_pin(bpffs_dir, kTraceCtlMapName);
  events_ = open_pin(bpffs_dir, kTraceEventsMapName);
  events_id_ = map_id(events_.get());
  totals_ = open_pin(bpffs_dir, describe(MapId::Totals).name);
  // the agent takes the lock for a moment every 10 s to look for a flag
  // left behind: a tracer starting just then waits for it
  for (int attempt = 0; attempt < 20 && !(lock_ = try_lock(bpffs_dir)); ++attempt)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!lock_) {
    uint32_t pid = read_flag(ctl_.get());
    throw std::runtime_error("another socklb trace is running" + (pid ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                             " on " + bpffs_dir.string() + ": one at a time; stop it first");
  }
  if (uint32_t pid = read_flag(ctl_.get())) {
    write_flag(ctl_.get(), 0);
    abandoned_by_ = pid;
  }
}

TraceControl::~TraceControl() {
  try {
    turn_off();
  } catch (const std::exception&) {
    // the pins went away under us (socklb uninstall): nothing left to turn off
  }
}

void TraceControl::turn_on() {
  write_flag(ctl_.get(), static_cast<uint32_t>(getpid()));
  on_ = true;
}

void TraceControl::turn_off() {
  if (!on_) return;
  on_ = false;
  write_flag(ctl_.get(), 0);
}

uint64_t TraceControl::drops() const {
  std::size_t cpus = possible_cpus();
  Bytes copies(per_cpu_stride(sizeof(socklb_totals)) * cpus);
  if (bpf_map_lookup_elem(totals_.get(), &kKey, copies.data()) != 0) throw SystemError("cannot read map totals", errno);
  return from_bytes<socklb_totals>(sum_per_cpu(copies, sizeof(socklb_totals), cpus)).trace_drops;
}

bool TraceControl::maps_replaced() const {
  UniqueFd pinned(bpf_obj_get(map_pin_path(bpffs_dir_, kTraceEventsMapName).c_str()));
  if (!pinned) return errno == ENOENT;  // uninstalled; another error tells nothing
  return map_id(pinned.get()) != events_id_;
}

std::optional<uint32_t> clear_abandoned_trace(const std::filesystem::path& bpffs_dir) {
  UniqueFd lock = try_lock(bpffs_dir);
  if (!lock) return std::nullopt;  // a tracer runs
  UniqueFd ctl = open_pin(bpffs_dir, kTraceCtlMapName);
  uint32_t pid = read_flag(ctl.get());
  if (!pid) return std::nullopt;
  write_flag(ctl.get(), 0);
  return pid;
}

}  // namespace socklb
