#include "kernel/layout_pin.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "kernel/pinned_maps.h"
#include "sys/sys_error.h"
#include "sys/unique_fd.h"
#include "socklb_maps.h"

namespace socklb {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kWholeSet = "";  // the key of the whole set's fingerprint

socklb_layout_key key_of(std::string_view name) {
  socklb_layout_key key{};
  if (name.size() >= sizeof(key.name)) throw std::logic_error("map name too long for the layout record: " + std::string(name));
  std::memcpy(key.name, name.data(), name.size());
  return key;
}

std::string text_of(const char* field, std::size_t size) { return std::string(field, strnlen(field, size)); }

}  // namespace

std::string_view socklb_version() { return SOCKLB_VERSION; }

std::optional<PinnedLayout> read_layout_pin(const fs::path& bpffs_dir) {
  fs::path pin = bpffs_dir / kLayoutPinName;
  LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = BPF_F_RDONLY);
  UniqueFd fd(bpf_obj_get_opts(pin.c_str(), &opts));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return std::nullopt;
    throw SystemError("cannot open the layout record " + pin.string(), err,
                      err == EPERM || err == EACCES ? "run as root" : "");
  }
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) throw SystemError("cannot inspect " + pin.string(), errno);
  if (info.type != BPF_MAP_TYPE_HASH || info.key_size != sizeof(socklb_layout_key) ||
      info.value_size != sizeof(socklb_layout_value))
    throw std::runtime_error(pin.string() + " is not a socklb layout record: run `socklb uninstall` and start again");

  PinnedLayout out;
  bool whole = false;
  socklb_layout_key key{}, next{};
  for (void* prev = nullptr; bpf_map_get_next_key(fd.get(), prev, &next) == 0; prev = &key) {
    key = next;
    socklb_layout_value value{};
    if (bpf_map_lookup_elem(fd.get(), &key, &value) != 0) continue;
    std::string name = text_of(key.name, sizeof(key.name));
    if (name == kWholeSet) {
      out.layout.fingerprint = value.fingerprint;
      out.version = text_of(value.version, sizeof(value.version));
      whole = true;
    } else {
      out.layout.maps[name] = value.fingerprint;
    }
  }
  // the record is filled before it is pinned: never seen half written
  if (!whole) throw std::runtime_error(pin.string() + " has no fingerprint of the whole set of maps: run `socklb uninstall` "
                                       "and start again");
  return out;
}

void write_layout_pin(const fs::path& bpffs_dir, const Layout& layout) {
  if (layout.maps.size() + 1 > SOCKLB_LAYOUT_ENTRIES) throw std::logic_error("more maps than the layout record holds");
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_HASH, "socklb_layout", sizeof(socklb_layout_key), sizeof(socklb_layout_value),
                             SOCKLB_LAYOUT_ENTRIES, &opts));
  if (!fd) throw SystemError("cannot create the layout record", errno);
  auto put = [&](std::string_view name, uint64_t fingerprint) {
    socklb_layout_key key = key_of(name);
    socklb_layout_value value{};
    value.fingerprint = fingerprint;
    std::string_view version = socklb_version();
    std::memcpy(value.version, version.data(), std::min(version.size(), sizeof(value.version) - 1));
    if (bpf_map_update_elem(fd.get(), &key, &value, BPF_NOEXIST) != 0)
      throw SystemError("cannot write the layout record", errno);
  };
  put(kWholeSet, layout.fingerprint);
  for (const auto& [name, fingerprint] : layout.maps) put(name, fingerprint);
  pin_in_place(fd.get(), bpffs_dir / kLayoutPinName);
}

std::string describe_pinned_layout(const std::optional<PinnedLayout>& pinned) {
  if (!pinned) return "no layout record: made by a socklb from before layout records";
  return fmt::format("layout {} of socklb {}", fingerprint_text(pinned->layout.fingerprint), pinned->version);
}

void require_pinned_layout_of_this_build(const fs::path& bpffs_dir) {
  std::error_code ec;
  if (!fs::is_directory(bpffs_dir, ec) || fs::is_empty(bpffs_dir, ec)) return;
  auto pinned = read_layout_pin(bpffs_dir);
  const Layout& mine = this_build_layout();
  if (pinned && pinned->layout.fingerprint == mine.fingerprint) return;
  throw std::runtime_error(fmt::format(
      "{} was pinned by another socklb version ({}; this build: layout {} of socklb {}): restart the agent with this "
      "version to migrate, or `socklb uninstall`",
      bpffs_dir.string(), describe_pinned_layout(pinned), fingerprint_text(mine.fingerprint), socklb_version()));
}

}  // namespace socklb
