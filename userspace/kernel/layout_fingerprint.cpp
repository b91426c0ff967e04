#include "kernel/layout_fingerprint.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <memory>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "maps/map_layout.h"
#include "sys/sys_error.h"
#include "socklb_bpf.skel.h"

namespace socklb {
namespace {

class Describer {
 public:
  explicit Describer(const btf* btf) : btf_(btf) {}

  std::string type(uint32_t id) {
    if (id == 0) return "void";
    const btf_type* t = btf__type_by_id(btf_, id);
    if (!t) throw std::runtime_error(fmt::format("BTF type {} does not exist", id));
    std::string name = string_at(t->name_off);
    // a type within itself (through a pointer): named, not walked again
    if (!open_.insert(id).second) return fmt::format("{} {}^", kind_name(t), name);
    std::string out = describe(t, name);
    open_.erase(id);
    return out;
  }

 private:
  std::string string_at(uint32_t offset) const {
    const char* text = btf__name_by_offset(btf_, offset);
    return text ? text : "";
  }

  static const char* kind_name(const btf_type* t) {
    switch (btf_kind(t)) {
      case BTF_KIND_STRUCT: return "struct";
      case BTF_KIND_UNION: return "union";
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64: return "enum";
      case BTF_KIND_FWD: return "fwd";
      default: return "type";
    }
  }

  std::string describe(const btf_type* t, const std::string& name) {
    switch (btf_kind(t)) {
      case BTF_KIND_INT:
        return fmt::format("int {}{{size {}, bits {}, offset {}, encoding {}}}", name, t->size, btf_int_bits(t),
                           btf_int_offset(t), btf_int_encoding(t));
      case BTF_KIND_FLOAT:
        return fmt::format("float {}{{size {}}}", name, t->size);
      case BTF_KIND_PTR:
        return "ptr -> " + type(t->type);
      case BTF_KIND_ARRAY: {
        const struct btf_array* a = btf_array(t);
        return fmt::format("[{}]", a->nelems) + type(a->type);
      }
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION: {
        std::string out = fmt::format("{} {}{{size {}", kind_name(t), name, t->size);
        const btf_member* m = btf_members(t);
        for (int i = 0; i < btf_vlen(t); ++i, ++m) {
          out += fmt::format("; {}@{}", string_at(m->name_off), btf_member_bit_offset(t, i));
          if (uint32_t bits = btf_member_bitfield_size(t, i)) out += fmt::format(":{}", bits);
          out += ": " + type(m->type);
        }
        return out + "}";
      }
      case BTF_KIND_ENUM: {
        std::string out = fmt::format("enum {}{{size {}, signed {}", name, t->size, btf_kflag(t) ? 1 : 0);
        const struct btf_enum* e = btf_enum(t);
        for (int i = 0; i < btf_vlen(t); ++i, ++e)
          out += fmt::format("; {}={}", string_at(e->name_off), e->val);
        return out + "}";
      }
      case BTF_KIND_ENUM64: {
        std::string out = fmt::format("enum {}{{size {}, signed {}", name, t->size, btf_kflag(t) ? 1 : 0);
        const struct btf_enum64* e = btf_enum64(t);
        for (int i = 0; i < btf_vlen(t); ++i, ++e)
          out += fmt::format("; {}={}", string_at(e->name_off), btf_enum64_value(e));
        return out + "}";
      }
      case BTF_KIND_FWD:
        return fmt::format("fwd {} {}", btf_kflag(t) ? "union" : "struct", name);
      // a typedef's name is part of the layout: __be32 and __u32 differ only there
      case BTF_KIND_TYPEDEF:
        return fmt::format("typedef {} = ", name) + type(t->type);
      case BTF_KIND_VOLATILE:
        return "volatile " + type(t->type);
      case BTF_KIND_CONST:
        return "const " + type(t->type);
      case BTF_KIND_RESTRICT:
        return "restrict " + type(t->type);
      case BTF_KIND_TYPE_TAG:
        return fmt::format("tag {} ", name) + type(t->type);
      case BTF_KIND_FUNC_PROTO: {
        std::string out = "fn(";
        const btf_param* p = btf_params(t);
        for (int i = 0; i < btf_vlen(t); ++i, ++p) out += (i ? ", " : "") + type(p->type);
        return out + ") -> " + type(t->type);
      }
      default:  // VAR, DATASEC, FUNC, DECL_TAG: not found inside a key or value
        return fmt::format("kind {} {}", btf_kind(t), name);
    }
  }

  const btf* btf_;
  std::set<uint32_t> open_;  // the types being described, outermost first
};

}  // namespace

uint64_t fnv1a64(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::string fingerprint_text(uint64_t fingerprint) { return fmt::format("{:016x}", fingerprint); }

std::string describe_btf_type(const btf* btf, uint32_t type_id) { return Describer(btf).type(type_id); }

std::string describe_map(const btf* btf, const MapShape& map) {
  auto side = [&](uint32_t size, uint32_t type_id) {
    return fmt::format("{}: {}", size, type_id ? describe_btf_type(btf, type_id) : "bytes");
  };
  return fmt::format("map {}{{type {}, flags {}, key {}, value {}}}", map.name, map.type, map.flags,
                     side(map.key_size, map.key_type_id), side(map.value_size, map.value_type_id));
}

Layout combine_layout(std::map<std::string, uint64_t> maps, uint32_t revision) {
  std::string all = fmt::format("revision {}\n", revision);
  for (const auto& [name, fingerprint] : maps) all += name + " " + fingerprint_text(fingerprint) + "\n";
  return {fnv1a64(all), std::move(maps)};
}

Layout layout_of(const bpf_object* obj) {
  const btf* btf = bpf_object__btf(obj);
  if (!btf) throw std::runtime_error("the BPF object has no BTF: its maps' layout cannot be told");
  std::map<std::string, uint64_t> maps;
  const bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__is_internal(map) || !pinned_by_socklb(bpf_map__name(map))) continue;
    MapShape shape{bpf_map__name(map),         bpf_map__type(map),           bpf_map__map_flags(map),
                   bpf_map__key_size(map),     bpf_map__value_size(map),     bpf_map__btf_key_type_id(map),
                   bpf_map__btf_value_type_id(map)};
    maps[shape.name] = fnv1a64(describe_map(btf, shape));
  }
  return combine_layout(std::move(maps), SOCKLB_LAYOUT_REVISION);
}

const Layout& this_build_layout() {
  static const Layout layout = [] {
    struct Deleter {
      void operator()(socklb_bpf* skel) const { socklb_bpf__destroy(skel); }
    };
    std::unique_ptr<socklb_bpf, Deleter> skel(socklb_bpf__open());
    if (!skel) throw SystemError("cannot open the BPF object built into socklb", errno);
    return layout_of(skel->obj);
  }();
  return layout;
}

}  // namespace socklb
