#pragma once
// The exact layout of the pinned maps, as a fingerprint. Sizes alone do not
// tell two layouts apart (two fields of one size swapped, __be32 for __u32),
// so every map is described from the BTF the programs were compiled with:
// its type and flags, and its key and value types walked down to their
// integers (kind, name, size, member names and bit offsets, bitfield sizes,
// array lengths, integer encodings). The description is canonical text
// (type ids, the order types were emitted in, comments, max_entries play no
// part), hashed with FNV-1a. Pure functions over a libbpf `struct btf`; no
// system calls.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

struct btf;
struct bpf_object;

namespace socklb {

uint64_t fnv1a64(std::string_view text);

// "00f3a9..." (16 hex digits): how fingerprints are shown and logged.
std::string fingerprint_text(uint64_t fingerprint);

// The canonical description of BTF type `type_id` and everything it is
// made of, e.g. `struct k{size 4; port@0: typedef __be16 = ...; ...}`.
std::string describe_btf_type(const btf* btf, uint32_t type_id);

// One map as the programs define it (max_entries left out: capacity is a
// setting, and a pinned map of another capacity is resized, not migrated).
struct MapShape {
  std::string name;
  uint32_t type = 0;   // BPF_MAP_TYPE_*
  uint32_t flags = 0;  // BPF_F_*
  uint32_t key_size = 0, value_size = 0;
  uint32_t key_type_id = 0, value_type_id = 0;  // 0: no BTF type, the size alone
};
std::string describe_map(const btf* btf, const MapShape& map);

struct Layout {
  // Of the whole set: every map's fingerprint and SOCKLB_LAYOUT_REVISION.
  uint64_t fingerprint = 0;
  std::map<std::string, uint64_t> maps;  // each pinned map's own, by pin name
};

// The whole set's fingerprint from the maps' own ones and the revision.
Layout combine_layout(std::map<std::string, uint64_t> maps, uint32_t revision);

// The layout of the maps socklb pins from this BPF object (opened; loading
// is not needed).
Layout layout_of(const bpf_object* obj);

// The layout of the programs built into this binary (computed once).
const Layout& this_build_layout();

}  // namespace socklb
