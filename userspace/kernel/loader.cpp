#include "kernel/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "kernel/layout_fingerprint.h"
#include "kernel/layout_pin.h"
#include "kernel/pinned_maps.h"
#include "maps/map_layout.h"
#include "maps/per_cpu.h"
#include "sys/sys_error.h"
#include "sys/unique_fd.h"
#include "socklb_bpf.skel.h"

namespace socklb {
namespace fs = std::filesystem;
namespace {

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

// The bytes of one value as the system calls exchange it: one copy per CPU
// in a per-CPU map (value_size is one CPU's).
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

// Whether anything but the layout record is pinned under dir: maps or links
// an earlier agent left.
bool has_pins(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename() != kLayoutPinName) return true;
  return false;
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

namespace {

// After a migration: pins of the old install this build does not make (its
// maps' or programs' that are gone, staged pins of an agent killed while it
// pinned). A link among them is detached first: its program serves the old
// maps, which nobody writes any more. Returns the names removed.
std::vector<std::string> remove_pins_but(const fs::path& dir, const std::set<std::string>& ours) {
  std::vector<std::string> removed;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const fs::path& pin = entry.path();
    if (ours.count(pin.filename())) continue;
    if (is_link_pin(pin)) {
      UniqueFd link(bpf_obj_get(pin.c_str()));
      if (link && bpf_link_detach(link.get()) != 0 && errno != ENOLINK)
        throw SystemError("cannot detach the old link " + pin.string(), errno);
    }
    if (::unlink(pin.c_str()) != 0) throw SystemError("cannot remove the old pin " + pin.string(), errno);
    removed.push_back(pin.filename());
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

// The maps whose own layout the record does not give as this build's: every
// one when there is no record.
std::vector<std::string> maps_changed(const Layout& mine, const std::optional<PinnedLayout>& pinned) {
  std::vector<std::string> changed;
  for (const auto& [name, fingerprint] : mine.maps) {
    if (!pinned) {
      changed.push_back(name);
      continue;
    }
    auto was = pinned->layout.maps.find(name);
    if (was == pinned->layout.maps.end() || was->second != fingerprint) changed.push_back(name);
  }
  return changed;
}

}  // namespace

// A pinned map asked to change capacity. A map cannot be resized, so a new
// one is made, filled from the pinned one, used by the new programs, and
// only then pinned in its place: traffic sees the old map or the full new one.
struct Datapath::Resize {
  bpf_map* map;
  UniqueFd pinned;
  fs::path pin;
  uint32_t from;
};

void Datapath::SkeletonDeleter::operator()(socklb_bpf* skel) const { socklb_bpf__destroy(skel); }

Datapath::Datapath(const InstallOptions& options) : options_(options) {}

Datapath::~Datapath() = default;

std::unique_ptr<Datapath> Datapath::load(const InstallOptions& options) {
  auto d = std::unique_ptr<Datapath>(new Datapath(options));
  d->skel_.reset(socklb_bpf__open());
  if (!d->skel_) throw SystemError("cannot open the BPF object", errno);
  d->layout_ = layout_of(d->skel_->obj);
  d->report_.layout = d->layout_.fingerprint;
  d->pinned_ = read_layout_pin(options.bpffs_dir);
  bool same = d->pinned_ && d->pinned_->layout.fingerprint == d->layout_.fingerprint;
  if (!same && has_pins(options.bpffs_dir)) {
    d->migration_ = LayoutMigration{d->pinned_, d->layout_, maps_changed(d->layout_, d->pinned_), {}};
  } else if (!same) {
    // nothing pinned yet: the record goes first, so no map is ever pinned without one
    write_layout_pin(options.bpffs_dir, d->layout_);
    d->pinned_ = PinnedLayout{d->layout_, std::string(socklb_version())};
  }

  bpf_map* map;
  bpf_object__for_each_map(map, d->skel_->obj) {
    d->prepare_map(map);
    if (bpf_map__name(map) == describe(MapId::ServiceState).name) d->state_capacity_ = bpf_map__max_entries(map);
  }
  if (int rc = socklb_bpf__load(d->skel_.get()); rc != 0)
    throw SystemError("the kernel refused to load the socklb programs (the verifier log is above)", -rc);
  // before any link switches: a failed copy leaves the old datapath untouched
  for (const auto& r : d->resizes_)
    copy_entries(r.pinned.get(), bpf_map__fd(r.map), bpf_map__key_size(r.map), bpf_map__value_size(r.map),
                 bpf_map__name(r.map));
  return d;
}

// Sizes the map, then: when migrating, leaves it new and unpinned (commit()
// pins it); else adopts the pinned one (libbpf reuses a pin whose type, sizes,
// flags and capacity match), creates it, or plans its resize. Only socklb's
// own maps are pinned: libbpf's internal ones (.rodata, .bss) belong to one load.
//
// service_counters is indexed by service id: it has service_state's capacity,
// whatever that turned out to be (state_capacity_: service_state is declared,
// so prepared, first), and never holds a resize back (the counters of ids past
// it belong to no service). The trace flag and ring buffer have no capacity
// setting: adopted as they are, or made new (a ring buffer cannot be copied).
void Datapath::prepare_map(bpf_map* map) {
  if (bpf_map__is_internal(map)) return;
  std::string name = bpf_map__name(map);
  if (!pinned_by_socklb(name))
    throw std::logic_error("map " + name + " of the BPF object is not described in map_layout.h");
  const MapDescriptor* described = find_map(name);
  bool counters = described && described->id == MapId::ServiceCounters;
  if (counters && !state_capacity_) throw std::logic_error("service_counters is declared before service_state");
  if (described) bpf_map__set_max_entries(map, counters ? state_capacity_ : described->capacity(options_.capacities));
  if (migration_) {
    ++report_.maps_created;
    return;
  }
  fs::path pin = map_pin_path(options_.bpffs_dir, name);
  int fd = bpf_obj_get(pin.c_str());
  if (fd < 0) {
    ++report_.maps_created;
  } else {
    UniqueFd pinned(fd);
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) throw SystemError("cannot inspect " + pin.string(), errno);
    // the layout record says this build's layout: anything else was changed behind socklb's back
    if (info.key_size != bpf_map__key_size(map) || info.value_size != bpf_map__value_size(map) ||
        info.type != bpf_map__type(map) || info.map_flags != bpf_map__map_flags(map))
      throw std::runtime_error(pin.string() + " is not the map its layout record (" + describe_pinned_layout(pinned_) +
                               ") says: the pins were changed behind socklb's back; run `socklb uninstall` first");
    uint32_t wanted = bpf_map__max_entries(map);
    if (described && info.max_entries != wanted) {
      uint32_t held = counters ? 0 : needed_capacity(fd, *described);
      if (held <= wanted) {
        resizes_.push_back({map, std::move(pinned), pin, info.max_entries});
        return;  // no pin path: libbpf creates the new map
      }
      report_.notes.push_back("map " + name + " keeps its capacity of " + std::to_string(info.max_entries) +
                              ": it holds " + std::to_string(held) + " entries, more than the " +
                              std::to_string(wanted) + " asked for; lower the load first or ask for more");
      bpf_map__set_max_entries(map, info.max_entries);
    }
    ++report_.maps_adopted;
  }
  if (bpf_map__set_pin_path(map, pin.c_str()) != 0) throw SystemError("cannot set the pin path of map " + name, errno);
}

std::unique_ptr<PinnedMaps> Datapath::maps() const {
  std::array<UniqueFd, kMaps.size()> fds;
  for (const auto& m : kMaps) {
    const bpf_map* map = bpf_object__find_map_by_name(skel_->obj, std::string(m.name).c_str());
    if (!map) throw std::logic_error("map " + std::string(m.name) + " is not in the BPF object");
    UniqueFd fd(fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 0));
    if (!fd) throw SystemError("cannot hold map " + std::string(m.name), errno);
    fds[static_cast<std::size_t>(m.id)] = std::move(fd);
  }
  return PinnedMaps::of(std::move(fds));
}

InstallReport Datapath::commit() {
  if (committed_) throw std::logic_error("the datapath is committed once");
  committed_ = true;
  InstallReport report = report_;
  const fs::path& dir = options_.bpffs_dir;
  UniqueFd cgroup(open(options_.cgroup.c_str(), O_RDONLY | O_DIRECTORY));
  if (!cgroup) throw SystemError("cannot open cgroup " + options_.cgroup.string(), errno);
  uint64_t cgroup_id = cgroup_id_of(options_.cgroup);
  std::set<std::string> ours = {std::string(kLayoutPinName)};
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    fs::path pin = link_pin_path(dir, program_short_name(prog));
    ours.insert(pin.filename());
    if (fs::exists(pin) && update_pinned_link(pin, prog, cgroup_id)) {
      ++report.links_updated;
    } else {
      attach_program(prog, cgroup.get(), pin);
      ++report.links_created;
    }
  }
  // the new programs use the new maps now: they take the old pins' place
  if (migration_) {
    bpf_map* map;
    bpf_object__for_each_map(map, skel_->obj) {
      if (bpf_map__is_internal(map)) continue;
      pin_in_place(bpf_map__fd(map), map_pin_path(dir, bpf_map__name(map)));
      ours.insert(bpf_map__name(map));
    }
  }
  for (const auto& r : resizes_) {
    pin_in_place(bpf_map__fd(r.map), r.pin);
    report.notes.push_back("map " + std::string(bpf_map__name(r.map)) + " resized from " + std::to_string(r.from) +
                           " to " + std::to_string(bpf_map__max_entries(r.map)) + " entries");
    ++report.maps_resized;
  }
  if (auto why = ArrayReader::refused())
    report.notes.push_back(*why + ": the arrays are read back with batch lookups, which cost a copy for every "
                                  "index, free or not (slower starts)");
  // only once every pin is of this layout
  if (!pinned_ || pinned_->layout.fingerprint != layout_.fingerprint) write_layout_pin(dir, layout_);
  if (migration_) {
    migration_->pins_removed = remove_pins_but(dir, ours);
    report.migration = migration_;
  }
  // pins are as sensitive as the directory: root only
  for (const auto& entry : fs::directory_iterator(dir))
    fs::permissions(entry.path(), fs::perms::owner_read | fs::perms::owner_write);
  return report;
}

}  // namespace socklb
