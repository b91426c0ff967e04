// The layout fingerprint tells every change of a map's layout that matters,
// same size or not, and nothing else (kernel/layout_fingerprint.h).

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <doctest/doctest.h>

#include <functional>
#include <memory>

#include "kernel/layout_fingerprint.h"
#include "maps/map_layout.h"
#include "socklb_bpf.skel.h"

using namespace socklb;

namespace {

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

// A BTF built by `add`, which returns the id of the type to describe.
std::string described(const std::function<int(btf*)>& add) {
  BtfPtr b(btf__new_empty());
  REQUIRE(b);
  int id = add(b.get());
  REQUIRE(id > 0);
  return describe_btf_type(b.get(), static_cast<uint32_t>(id));
}

struct Ints {
  int u8, u16, be16;
};

Ints add_ints(btf* b, const char* be16_name = "__be16") {
  Ints t;
  t.u8 = btf__add_int(b, "unsigned char", 1, 0);
  t.u16 = btf__add_int(b, "short unsigned int", 2, 0);
  t.be16 = btf__add_typedef(b, be16_name, t.u16);
  return t;
}

// struct socklb_key { __be16 port; __u8 proto; __u8 pad; }, 4 bytes
int add_key(btf* b, const Ints& t, const char* port = "port") {
  int s = btf__add_struct(b, "socklb_key", 4);
  btf__add_field(b, port, t.be16, 0, 0);
  btf__add_field(b, "proto", t.u8, 16, 0);
  btf__add_field(b, "pad", t.u8, 24, 0);
  return s;
}

}  // namespace

TEST_CASE("fnv1a64: the published 64-bit FNV-1a values") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ull);
  CHECK(fingerprint_text(0xaf63dc4c8601ec8cull) == "af63dc4c8601ec8c");
  CHECK(fingerprint_text(1) == "0000000000000001");
}

TEST_CASE("a key's description names every member with its bit offset, down to the integers") {
  std::string key = described([](btf* b) { return add_key(b, add_ints(b)); });
  CHECK(key ==
        "struct socklb_key{size 4; port@0: typedef __be16 = int short unsigned int{size 2, bits 16, offset 0, "
        "encoding 0}; proto@16: int unsigned char{size 1, bits 8, offset 0, encoding 0}; pad@24: int unsigned "
        "char{size 1, bits 8, offset 0, encoding 0}}");
}

TEST_CASE("two structs of the same size with their fields swapped differ") {
  auto port_first = described([](btf* b) { return add_key(b, add_ints(b)); });
  auto port_last = described([](btf* b) {
    Ints t = add_ints(b);
    int s = btf__add_struct(b, "socklb_key", 4);
    btf__add_field(b, "proto", t.u8, 0, 0);
    btf__add_field(b, "pad", t.u8, 8, 0);
    btf__add_field(b, "port", t.be16, 16, 0);
    return s;
  });
  CHECK(port_first != port_last);
  CHECK(fnv1a64(port_first) != fnv1a64(port_last));
}

TEST_CASE("what does not change the layout does not change the description: type ids, the order types come in") {
  auto usual = described([](btf* b) { return add_key(b, add_ints(b)); });
  auto shuffled = described([](btf* b) {
    btf__add_int(b, "long int", 8, BTF_INT_SIGNED);  // unrelated, so every id moves
    Ints t;
    t.u16 = btf__add_int(b, "short unsigned int", 2, 0);
    t.be16 = btf__add_typedef(b, "__be16", t.u16);
    t.u8 = btf__add_int(b, "unsigned char", 1, 0);
    return add_key(b, t);
  });
  CHECK(usual == shuffled);
}

TEST_CASE("a change that keeps every size still changes the description") {
  auto base = described([](btf* b) { return add_key(b, add_ints(b)); });
  SUBCASE("byte order: __be16 becomes __u16") {
    CHECK(base != described([](btf* b) { return add_key(b, add_ints(b, "__u16")); }));
  }
  SUBCASE("a member renamed") {
    CHECK(base != described([](btf* b) { return add_key(b, add_ints(b), "dport"); }));
  }
  SUBCASE("a signed member") {
    CHECK(base != described([](btf* b) {
            Ints t = add_ints(b);
            t.u8 = btf__add_int(b, "signed char", 1, BTF_INT_SIGNED);
            return add_key(b, t);
          }));
  }
  SUBCASE("bitfields: 4 + 4 bits in place of one byte") {
    CHECK(base != described([](btf* b) {
            Ints t = add_ints(b);
            int s = btf__add_struct(b, "socklb_key", 4);
            btf__add_field(b, "port", t.be16, 0, 0);
            btf__add_field(b, "proto", t.u8, 16, 4);
            btf__add_field(b, "pad", t.u8, 20, 4);
            return s;
          }));
  }
  SUBCASE("an array of another length in a struct of the same size") {
    auto with_array = [](uint32_t n) {
      return [n](btf* b) {
        Ints t = add_ints(b);
        int index = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
        int ports = btf__add_array(b, index, t.be16, n);
        int s = btf__add_struct(b, "socklb_ports", 8);
        btf__add_field(b, "ports", ports, 0, 0);
        return s;
      };
    };
    CHECK(described(with_array(4)) != described(with_array(2)));
  }
}

TEST_CASE("a map's description: its type and flags count, its capacity does not") {
  BtfPtr b(btf__new_empty());
  Ints t = add_ints(b.get());
  uint32_t key = static_cast<uint32_t>(add_key(b.get(), t));
  MapShape hash{"reverse", BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC, 4, 1, key, static_cast<uint32_t>(t.u8)};
  MapShape lru = hash, preallocated = hash, renamed = hash;
  lru.type = BPF_MAP_TYPE_LRU_HASH;
  preallocated.flags = 0;
  renamed.name = "reverse_v2";
  std::string d = describe_map(b.get(), hash);
  CHECK(d.find("socklb_key{size 4; port@0") != std::string::npos);
  CHECK(d != describe_map(b.get(), lru));
  CHECK(d != describe_map(b.get(), preallocated));
  CHECK(d != describe_map(b.get(), renamed));
}

TEST_CASE("the whole set: every map's fingerprint and the revision") {
  std::map<std::string, uint64_t> maps = {{"addrs_v4", 1}, {"backends", 2}};
  Layout layout = combine_layout(maps, 1);
  CHECK(layout.maps == maps);
  CHECK(layout.fingerprint == combine_layout(maps, 1).fingerprint);
  CHECK(layout.fingerprint != combine_layout(maps, 2).fingerprint);  // a meaning changed, no type did
  maps["backends"] = 3;
  CHECK(layout.fingerprint != combine_layout(maps, 1).fingerprint);
  maps.erase("backends");
  CHECK(layout.fingerprint != combine_layout(maps, 1).fingerprint);
}

TEST_CASE("this build's layout: every pinned map, from the BTF of the programs, the same each time") {
  const Layout& layout = this_build_layout();
  CHECK(layout.maps.size() == kMaps.size() + 3);
  for (const auto& m : kMaps) CHECK_MESSAGE(layout.maps.count(std::string(m.name)), m.name);
  CHECK(layout.maps.count(std::string(kSockStateMapName)));
  CHECK(layout.maps.count(std::string(kTraceCtlMapName)));
  CHECK(layout.maps.count(std::string(kTraceEventsMapName)));
  CHECK(layout.fingerprint == combine_layout(layout.maps, SOCKLB_LAYOUT_REVISION).fingerprint);

  struct Deleter {
    void operator()(socklb_bpf* skel) const { socklb_bpf__destroy(skel); }
  };
  std::unique_ptr<socklb_bpf, Deleter> skel(socklb_bpf__open());
  REQUIRE(skel);
  Layout again = layout_of(skel->obj);
  CHECK(again.fingerprint == layout.fingerprint);
  CHECK(again.maps == layout.maps);
  // the value of `backends` as the programs see it, lock first
  const bpf_map* backends = bpf_object__find_map_by_name(skel->obj, "backends");
  REQUIRE(backends);
  std::string value = describe_btf_type(bpf_object__btf(skel->obj), bpf_map__btf_value_type_id(backends));
  CAPTURE(value);
  CHECK(value.rfind("struct socklb_backend{size 32; lock@0: struct bpf_spin_lock{size 4; val@0: typedef __u32 = ", 0) == 0);
  CHECK(value.find("; addr@64: [4]typedef __be32 = typedef __u32 = int unsigned int{size 4, bits 32") != std::string::npos);
}

TEST_CASE("this build's layout: the per-CPU counters by their map type and value, the ring buffer by its type alone") {
  struct Deleter {
    void operator()(socklb_bpf* skel) const { socklb_bpf__destroy(skel); }
  };
  std::unique_ptr<socklb_bpf, Deleter> skel(socklb_bpf__open());
  REQUIRE(skel);
  const btf* b = bpf_object__btf(skel->obj);
  auto shape = [&](const char* name) {
    const bpf_map* m = bpf_object__find_map_by_name(skel->obj, name);
    REQUIRE(m);
    return MapShape{name,
                    bpf_map__type(m),
                    bpf_map__map_flags(m),
                    bpf_map__key_size(m),
                    bpf_map__value_size(m),
                    bpf_map__btf_key_type_id(m),
                    bpf_map__btf_value_type_id(m)};
  };
  std::string counters = describe_map(b, shape("service_counters"));
  CAPTURE(counters);
  CHECK(counters.rfind("map service_counters{type " + std::to_string(BPF_MAP_TYPE_PERCPU_ARRAY) + ", ", 0) == 0);
  CHECK(counters.find("value 24: struct socklb_service_counters{size 24; connects@0: ") != std::string::npos);
  std::string totals = describe_map(b, shape("totals"));
  CHECK(totals.find("refused_no_port@192: ") != std::string::npos);
  CHECK(totals.find("trace_drops@256: ") != std::string::npos);
  std::string ring = describe_map(b, shape("trace_events"));
  CHECK(ring == "map trace_events{type " + std::to_string(BPF_MAP_TYPE_RINGBUF) + ", flags 0, key 0: bytes, value 0: bytes}");
  CHECK(describe_map(b, shape("trace_ctl")).find("struct socklb_trace_ctl{size 8; tracer_pid@0: ") != std::string::npos);
  // an array of one entry and a per-CPU one differ by their type alone
  MapShape shared = shape("totals");
  shared.type = BPF_MAP_TYPE_ARRAY;
  CHECK(describe_map(b, shared) != totals);
}
