#include "kernel/pinned_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdio>

#include "kernel/layout_pin.h"
#include "maps/per_cpu.h"
#include "sys/sys_error.h"

namespace socklb {
namespace {

std::string map_label(MapId map) { return "map " + std::string(describe(map).name); }

// Entries of a map laid out the way the batch calls want them.
struct Packed {
  std::vector<uint8_t> keys, values;
};

// A per-CPU map's value goes to every CPU's copy.
Packed pack(MapId map, const MapEntries& entries) {
  const auto& l = describe(map);
  std::size_t cpus = l.per_cpu ? possible_cpus() : 1;
  Packed out;
  out.keys.reserve(entries.size() * l.key_size);
  out.values.reserve(entries.size() * (l.per_cpu ? per_cpu_stride(l.value_size) * cpus : l.value_size));
  for (const auto& [k, v] : entries) {
    if (k.size() != l.key_size || v.size() != l.value_size)
      throw std::logic_error(map_label(map) + ": entry of the wrong size");
    out.keys.insert(out.keys.end(), k.begin(), k.end());
    if (l.per_cpu) {
      Bytes copies = replicate_per_cpu(v, cpus);
      out.values.insert(out.values.end(), copies.begin(), copies.end());
    } else {
      out.values.insert(out.values.end(), v.begin(), v.end());
    }
  }
  return out;
}

}  // namespace

std::size_t possible_cpus() {
  static const int n = libbpf_num_possible_cpus();
  if (n <= 0) throw SystemError("cannot read the number of possible CPUs", -n);
  return static_cast<std::size_t>(n);
}

std::filesystem::path map_pin_path(const std::filesystem::path& bpffs_dir, std::string_view map_name) {
  return bpffs_dir / std::string(map_name);
}

void pin_in_place(int fd, const std::filesystem::path& pin) {
  std::filesystem::path staged = pin;
  staged += kStagedPinSuffix;
  ::unlink(staged.c_str());  // left by an agent killed right here
  if (bpf_obj_pin(fd, staged.c_str()) != 0) throw SystemError("cannot pin " + staged.string(), errno);
  if (std::rename(staged.c_str(), pin.c_str()) != 0) {
    int err = errno;
    ::unlink(staged.c_str());
    throw SystemError("cannot put " + staged.string() + " in place of " + pin.string(), err);
  }
}

std::unique_ptr<PinnedMaps> PinnedMaps::open(const std::filesystem::path& dir, bool read_only) {
  require_pinned_layout_of_this_build(dir);
  auto maps = std::unique_ptr<PinnedMaps>(new PinnedMaps());
  for (const auto& l : kMaps) {
    auto path = map_pin_path(dir, l.name);
    LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = static_cast<__u32>(read_only ? BPF_F_RDONLY : 0));
    int fd = bpf_obj_get_opts(path.c_str(), &opts);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT)
        throw std::runtime_error("no socklb map pinned at " + path.string() +
                                 ": is the agent installed with this --bpffs? (start it with `socklb run`)");
      throw SystemError("cannot open " + path.string(), err, err == EPERM || err == EACCES ? "run as root" : "");
    }
    maps->take(l.id, UniqueFd(fd), path.string());
  }
  return maps;
}

std::unique_ptr<PinnedMaps> PinnedMaps::of(std::array<UniqueFd, kMaps.size()> fds) {
  auto maps = std::unique_ptr<PinnedMaps>(new PinnedMaps());
  for (const auto& l : kMaps)
    maps->take(l.id, std::move(fds[static_cast<std::size_t>(l.id)]), "the new map " + std::string(l.name));
  return maps;
}

void PinnedMaps::take(MapId map, UniqueFd fd, const std::string& where) {
  const auto& l = describe(map);
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) throw SystemError("cannot inspect " + where, errno);
  if (info.key_size != l.key_size || info.value_size != l.value_size)
    throw std::runtime_error(where + " has key/value sizes " + std::to_string(info.key_size) + "/" +
                             std::to_string(info.value_size) + ", this socklb expects " + std::to_string(l.key_size) +
                             "/" + std::to_string(l.value_size) +
                             ": the pins were changed behind socklb's back (their layout record is this build's); run `socklb uninstall` "
                             "and start again");
  capacities_[static_cast<std::size_t>(map)] = info.max_entries;
  fds_[static_cast<std::size_t>(map)] = std::move(fd);
}

void PinnedMaps::update(MapId map, const MapEntries& entries) {
  if (entries.empty()) return;
  Packed packed = pack(map, entries);
  write_batch(map, packed.keys.data(), packed.values.data(), entries.size());
}

void PinnedMaps::update_packed(MapId map, ByteView keys, ByteView values, std::size_t count) {
  if (count == 0) return;
  const auto& l = describe(map);
  if (keys.size() != count * l.key_size || values.size() != count * l.value_size)
    throw std::logic_error(map_label(map) + ": packed entries of the wrong size");
  // a per-CPU value is written as one copy per CPU: packed anew
  if (l.per_cpu) return update(map, unpack_entries(map, keys, values, count));
  write_batch(map, keys.data(), values.data(), count);
}

void PinnedMaps::write_batch(MapId map, const void* keys, const void* values, std::size_t entries) {
  __u32 count = static_cast<__u32>(entries);
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = describe(map).locked ? BPF_F_LOCK : 0ull);
  if (bpf_map_update_batch(fd(map), keys, values, &count, &opts) == 0) return;
  int err = errno;
  throw SystemError("writing " + std::to_string(entries) + " entries to " + map_label(map) + " (" +
                        std::to_string(count) + " written)",
                    err, err == E2BIG || err == ENOSPC || err == ENOMEM ? "the map is full: raise its --max-* setting" : "");
}

void PinnedMaps::remove(MapId map, const std::vector<Bytes>& keys) {
  Bytes packed;
  packed.reserve(keys.size() * describe(map).key_size);
  for (const auto& key : keys) {
    if (key.size() != describe(map).key_size) throw std::logic_error(map_label(map) + ": key of the wrong size");
    packed.insert(packed.end(), key.begin(), key.end());
  }
  remove_packed(map, packed, keys.size());
}

void PinnedMaps::remove_packed(MapId map, ByteView keys, std::size_t count) {
  const auto& l = describe(map);
  if (keys.size() != count * l.key_size) throw std::logic_error(map_label(map) + ": packed keys of the wrong size");
  if (l.kind == MapKind::Array) {
    // (on a per-CPU array, every CPU's copy)
    // an array entry cannot be deleted; zeros mark it free
    update_packed(map, keys, Bytes(count * l.value_size, 0), count);
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    // already gone is as good as deleted (a crashed sync, a manual bpftool delete)
    if (bpf_map_delete_elem(fd(map), keys.data() + i * l.key_size) != 0 && errno != ENOENT)
      throw SystemError("deleting from " + map_label(map), errno);
  }
}

MapEntries PinnedMaps::dump(MapId map) const {
  const auto& l = describe(map);
  bool array = l.kind == MapKind::Array;
  // without the iterators, the batch lookup below reads the same entries,
  // only slower: every index costs a copy, free or not
  if (array && !l.per_cpu && !ArrayReader::refused()) {
    if (!arrays_) arrays_.emplace();
    return arrays_->read(map, fd(map));
  }
  // a per-CPU entry comes as one copy per CPU: read back as their sum
  std::size_t cpus = l.per_cpu ? possible_cpus() : 1;
  std::size_t value_bytes = l.per_cpu ? per_cpu_stride(l.value_size) * cpus : l.value_size;
  MapEntries out;
  constexpr __u32 kChunk = 4096;
  std::vector<uint8_t> keys(kChunk * l.key_size), values(kChunk * value_bytes);
  __u32 token = 0;
  bool first = true;
  for (;;) {
    __u32 count = kChunk;
    // a locked entry is read under its lock, so it is read whole
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = l.locked ? BPF_F_LOCK : 0ull);
    int rc = bpf_map_lookup_batch(fd(map), first ? nullptr : &token, &token, keys.data(), values.data(), &count, &opts);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err != ENOENT) throw SystemError("reading " + map_label(map), err);
    for (__u32 i = 0; i < count; ++i) {
      Bytes value = l.per_cpu ? sum_per_cpu(ByteView(values.data() + i * value_bytes, value_bytes), l.value_size, cpus)
                              : Bytes(values.begin() + i * l.value_size, values.begin() + (i + 1) * l.value_size);
      if (array && all_zero(value)) continue;  // a free entry
      out.emplace_back(Bytes(keys.begin() + i * l.key_size, keys.begin() + (i + 1) * l.key_size), std::move(value));
    }
    if (err == ENOENT) return out;  // the end of the map
    first = false;
  }
}

MapEntries PinnedMaps::lookup(MapId map, const std::vector<Bytes>& keys) const {
  const auto& l = describe(map);
  std::size_t cpus = l.per_cpu ? possible_cpus() : 1;
  Bytes value(l.per_cpu ? per_cpu_stride(l.value_size) * cpus : l.value_size);
  MapEntries out;
  for (const auto& key : keys) {
    if (key.size() != l.key_size) throw std::logic_error(map_label(map) + ": key of the wrong size");
    int rc = l.locked ? bpf_map_lookup_elem_flags(fd(map), key.data(), value.data(), BPF_F_LOCK)
                      : bpf_map_lookup_elem(fd(map), key.data(), value.data());
    if (rc != 0) {
      if (errno == ENOENT) continue;
      throw SystemError("reading " + map_label(map), errno);
    }
    Bytes v = l.per_cpu ? sum_per_cpu(value, l.value_size, cpus) : value;
    if (l.kind == MapKind::Array && all_zero(v)) continue;  // free
    out.emplace_back(key, std::move(v));
  }
  return out;
}

uint32_t PinnedMaps::capacity(MapId map) const { return capacities_[static_cast<std::size_t>(map)]; }

void PinnedMaps::wait_for_readers() {
  if (!barrier_) barrier_.emplace();
  barrier_->wait();
}

}  // namespace socklb
