#include "kernel/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "maps/map_layout.h"
#include "maps/per_cpu.h"
#include "kernel/pinned_maps.h"
#include "sys/sys_error.h"
#include "sys/unique_fd.h"
#include "socklb_bpf.skel.h"

namespace socklb {
namespace fs = std::filesystem;
namespace {

struct SkeletonDeleter {
  void operator()(socklb_bpf* skel) const { socklb_bpf__destroy(skel); }
};
using Skeleton = std::unique_ptr<socklb_bpf, SkeletonDeleter>;

// Closing our handle must never detach: the pin keeps the attachment.
struct LinkCloser {
  void operator()(bpf_link* link) const {
    bpf_link__disconnect(link);
    bpf_link__destroy(link);
  }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkCloser>;

std::string program_short_name(const bpf_program* prog) {
  std::string name = bpf_program__name(prog);
  return name.rfind("socklb_", 0) == 0 ? name.substr(7) : name;
}

// A pinned map asked to change capacity. A map cannot be resized, so a new
// one is made, filled from the pinned one, used by the new programs, and
// only then pinned in its place: traffic sees the old map or the full new one.
struct Resize {
  bpf_map* map;
  UniqueFd pinned;
  fs::path pin;
  uint32_t from;
};

// The bytes of one value as the system calls exchange it: one copy per CPU
// in a per-CPU map.
std::size_t value_bytes(const MapDescriptor* m, uint32_t value_size) {
  return m && m->per_cpu ? per_cpu_stride(value_size) * possible_cpus() : value_size;
}

// How many entries a map of `needed` capacity must hold: its entry count;
// for an array, one past its highest entry in use (its ids are indexes).
uint32_t needed_capacity(int map_fd, const MapDescriptor& m) {
  std::vector<unsigned char> key(m.key_size), next(m.key_size), value(value_bytes(&m, m.value_size));
  uint32_t n = 0;
  for (void* prev = nullptr; bpf_map_get_next_key(map_fd, prev, next.data()) == 0; prev = key.data()) {
    key.swap(next);
    if (m.kind == MapKind::Hash) {
      ++n;
    } else if (bpf_map_lookup_elem(map_fd, key.data(), value.data()) == 0 && !all_zero(value)) {
      uint32_t index;
      std::memcpy(&index, key.data(), sizeof(index));
      n = std::max(n, index + 1);
    }
  }
  return n;
}

// Entries deleted meanwhile are skipped. Entries the programs add to the old
// map after the copy (affinity and the overflow flows of UDP sockets: the
// agent is the sole writer of the others) are lost, which costs a client its
// affinity once, or a socket past its fourth ClusterIP its memory of one;
// so are the counts the programs make in the old counters meanwhile.
uint32_t copy_entries(int from_fd, int to_fd, uint32_t key_size, uint32_t value_size, const std::string& name) {
  const MapDescriptor* described = find_map(name);
  std::vector<unsigned char> key(key_size), next(key_size), value(value_bytes(described, value_size));
  bool array = described && described->kind == MapKind::Array;
  uint32_t copied = 0;
  for (void* prev = nullptr; bpf_map_get_next_key(from_fd, prev, next.data()) == 0; prev = key.data()) {
    key.swap(next);
    if (bpf_map_lookup_elem(from_fd, key.data(), value.data()) != 0) continue;
    if (array && all_zero(value)) continue;  // free: the new array starts out zeroed
    if (bpf_map_update_elem(to_fd, key.data(), value.data(), BPF_ANY) != 0) {
      // the counters of ids past a smaller service_state: no service has them
      if (described && described->per_cpu && errno == E2BIG) continue;
      throw SystemError("cannot copy map " + name + " into its resized replacement", errno);
    }
    ++copied;
  }
  return copied;
}

// Creates the map, adopts the pinned one, or plans its resize; libbpf reuses
// a pin whose type, sizes and capacity match. Only socklb's own maps are
// pinned: libbpf's internal ones (.rodata, .bss) belong to one load.
//
// service_counters is indexed by service id: it has service_state's capacity,
// whatever that turned out to be (`state_capacity`), and never holds a resize
// back (the counters of ids past it belong to no service).
void prepare_map(bpf_map* map, const fs::path& dir, const MapCapacities& caps, uint32_t state_capacity,
                 InstallReport& report, std::vector<Resize>& resizes) {
  if (bpf_map__is_internal(map)) return;
  std::string name = bpf_map__name(map);
  const MapDescriptor* described = find_map(name);
  if (!described && name != kSockStateMapName && name != kTraceCtlMapName && name != kTraceEventsMapName)
    throw std::logic_error("map " + name + " of the BPF object is not described in map_layout.h");
  fs::path pin = map_pin_path(dir, name);
  bool counters = described && described->id == MapId::ServiceCounters;
  if (described) bpf_map__set_max_entries(map, counters ? state_capacity : described->capacity(caps));
  int fd = bpf_obj_get(pin.c_str());
  if (fd < 0) {
    ++report.maps_created;
  } else {
    UniqueFd pinned(fd);
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) throw SystemError("cannot inspect " + pin.string(), errno);
    if (info.key_size != bpf_map__key_size(map) || info.value_size != bpf_map__value_size(map) ||
        info.type != bpf_map__type(map))
      throw std::runtime_error(pin.string() + " has another layout than this socklb build (made by another version): "
                               "run `socklb uninstall` first");
    uint32_t wanted = bpf_map__max_entries(map);
    if (described && info.max_entries != wanted) {
      uint32_t held = counters ? 0 : needed_capacity(fd, *described);
      if (held <= wanted) {
        resizes.push_back({map, std::move(pinned), pin, info.max_entries});
        return;  // no pin path: libbpf creates the new map
      }
      report.notes.push_back("map " + name + " keeps its capacity of " + std::to_string(info.max_entries) + ": it holds " +
                             std::to_string(held) + " entries, more than the " + std::to_string(wanted) +
                             " asked for; lower the load first or ask for more");
      bpf_map__set_max_entries(map, info.max_entries);
    }
    ++report.maps_adopted;
  }
  if (bpf_map__set_pin_path(map, pin.c_str()) != 0) throw SystemError("cannot set the pin path of map " + name, errno);
}

// Pins the resized map in place of the old one in one step (rename), so the
// pin never goes missing.
void pin_resized(const Resize& r, InstallReport& report) {
  fs::path staged = r.pin;
  staged += "_resized";  // bpffs names may not contain dots
  unlink(staged.c_str());  // left by an agent killed right here
  if (bpf_obj_pin(bpf_map__fd(r.map), staged.c_str()) != 0) throw SystemError("cannot pin " + staged.string(), errno);
  if (std::rename(staged.c_str(), r.pin.c_str()) != 0) throw SystemError("cannot replace " + r.pin.string(), errno);
  report.notes.push_back("map " + std::string(bpf_map__name(r.map)) + " resized from " + std::to_string(r.from) +
                         " to " + std::to_string(bpf_map__max_entries(r.map)) + " entries");
  ++report.maps_resized;
}

// Switches a pinned attachment to the new program in place, so there is no
// moment without a program. Returns false when the pin is stale (its
// cgroup was removed) and was deleted.
bool update_pinned_link(const fs::path& pin, bpf_program* prog, uint64_t cgroup_id) {
  LinkPtr link(bpf_link__open(pin.c_str()));
  if (!link) throw SystemError("cannot open the pinned link " + pin.string(), errno);
  bpf_link_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_link__fd(link.get()), &info, &len) != 0)
    throw SystemError("cannot inspect " + pin.string(), errno);
  if (info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id != cgroup_id && info.cgroup.cgroup_id != 0)
    throw std::runtime_error(pin.string() + " attaches socklb to another cgroup (id " +
                             std::to_string(info.cgroup.cgroup_id) +
                             "): run `socklb uninstall` with that --bpffs before attaching elsewhere");
  if (bpf_link__update_program(link.get(), prog) == 0) return true;
  int err = errno;
  if (err != ENOLINK) throw SystemError("cannot switch " + pin.string() + " to the new program", err);
  fs::remove(pin);
  return false;
}

void attach_program(bpf_program* prog, int cgroup_fd, const fs::path& pin) {
  LinkPtr link(bpf_program__attach_cgroup(prog, cgroup_fd));
  if (!link) {
    int err = errno;
    throw SystemError("cannot attach " + std::string(bpf_program__name(prog)), err,
                      err == EPERM ? "run as root" : "does this kernel support cgroup socket-address hooks?");
  }
  if (bpf_link__pin(link.get(), pin.c_str()) != 0) throw SystemError("cannot pin " + pin.string(), errno);
}

}  // namespace

fs::path link_pin_path(const fs::path& bpffs_dir, const std::string& program_name) {
  return bpffs_dir / (std::string(kLinkPinPrefix) + program_name);
}

bool is_link_pin(const fs::path& pin) { return pin.filename().string().rfind(kLinkPinPrefix, 0) == 0; }

uint64_t cgroup_id_of(const fs::path& cgroup) {
  struct stat st {};
  if (stat(cgroup.c_str(), &st) != 0) throw SystemError("cannot stat cgroup " + cgroup.string(), errno);
  return st.st_ino;
}

InstallReport install_datapath(const InstallOptions& options) {
  InstallReport report;
  Skeleton skel(socklb_bpf__open());
  if (!skel) throw SystemError("cannot open the BPF object", errno);
  std::vector<Resize> resizes;
  bpf_map* map;
  // service_state is declared (so prepared) before service_counters
  uint32_t state_capacity = describe(MapId::ServiceState).capacity(options.capacities);
  bpf_object__for_each_map(map, skel->obj) {
    prepare_map(map, options.bpffs_dir, options.capacities, state_capacity, report, resizes);
    if (bpf_map__name(map) == describe(MapId::ServiceState).name) state_capacity = bpf_map__max_entries(map);
  }
  if (int rc = socklb_bpf__load(skel.get()); rc != 0)
    throw SystemError("the kernel refused to load the socklb programs (the verifier log is above)", -rc);
  // before any link switches: a failed copy leaves the old datapath untouched
  for (const auto& r : resizes)
    copy_entries(r.pinned.get(), bpf_map__fd(r.map), bpf_map__key_size(r.map), bpf_map__value_size(r.map),
                 bpf_map__name(r.map));

  UniqueFd cgroup(open(options.cgroup.c_str(), O_RDONLY | O_DIRECTORY));
  if (!cgroup) throw SystemError("cannot open cgroup " + options.cgroup.string(), errno);
  uint64_t cgroup_id = cgroup_id_of(options.cgroup);
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    fs::path pin = link_pin_path(options.bpffs_dir, program_short_name(prog));
    if (fs::exists(pin) && update_pinned_link(pin, prog, cgroup_id)) {
      ++report.links_updated;
    } else {
      attach_program(prog, cgroup.get(), pin);
      ++report.links_created;
    }
  }
  // the new programs use the resized maps now: they take the old pins' place
  for (const auto& r : resizes) pin_resized(r, report);
  // pins are as sensitive as the directory: root only
  for (const auto& entry : fs::directory_iterator(options.bpffs_dir))
    fs::permissions(entry.path(), fs::perms::owner_read | fs::perms::owner_write);
  return report;
}

}  // namespace socklb
