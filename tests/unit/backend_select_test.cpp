// The selection arithmetic the BPF programs compile, compiled here as C++.

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "backend_select.h"

namespace {

constexpr uint64_t kSec = SOCKLB_NSEC_PER_SEC;

}  // namespace

TEST_CASE("socklb_slot_for_random stays below count at the edges of the random range") {
  const uint32_t randoms[] = {0u, 1u, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu};
  const uint32_t counts[] = {1u, 2u, 3u, 7u, 10u, 255u, 65535u};
  for (uint32_t count : counts)
    for (uint32_t random : randoms) {
      CAPTURE(count);
      CAPTURE(random);
      CHECK(socklb_slot_for_random(random, count) < count);
    }
  CHECK(socklb_slot_for_random(0, 10) == 0);
  CHECK(socklb_slot_for_random(0xffffffffu, 10) == 9);
  CHECK(socklb_slot_for_random(0xffffffffu, 65535) == 65534);
}

TEST_CASE("socklb_slot_for_random spreads a uniform sweep evenly over 1..10 slots") {
  // 2^20 random values spaced evenly over the 32-bit range: every slot gets
  // its share give or take one value.
  constexpr uint32_t kSamples = 1u << 20;
  constexpr uint64_t kStep = (uint64_t{1} << 32) / kSamples;
  for (uint32_t count = 1; count <= 10; ++count) {
    CAPTURE(count);
    std::vector<uint32_t> hits(count + 1);  // hits[count]: out of range
    for (uint64_t i = 0; i < kSamples; ++i)
      ++hits[std::min(socklb_slot_for_random(static_cast<uint32_t>(i * kStep), count), count)];
    CHECK(hits[count] == 0);
    for (uint32_t slot = 0; slot < count; ++slot) {
      CAPTURE(slot);
      CHECK(hits[slot] >= kSamples / count - 1);
      CHECK(hits[slot] <= kSamples / count + 1);
    }
  }
}

TEST_CASE("socklb_slot_for_random spreads a pseudo-random stream evenly") {
  uint32_t state = 12345;
  auto xorshift = [&] {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  };
  constexpr uint32_t kCount = 7, kSamples = 700000;
  std::vector<uint32_t> hits(kCount);
  for (uint32_t i = 0; i < kSamples; ++i) ++hits[socklb_slot_for_random(xorshift(), kCount)];
  for (uint32_t h : hits) {
    CHECK(h > kSamples / kCount * 97 / 100);
    CHECK(h < kSamples / kCount * 103 / 100);
  }
}

TEST_CASE("socklb_affinity_fresh: less than timeout since last use, clock going back stays fresh") {
  struct Case {
    const char* what;
    uint64_t now, last;
    uint32_t timeout;
    bool fresh;
  };
  const uint64_t t = 1000 * kSec;
  const Case cases[] = {
      {"used just now", t, t, 10, true},
      {"one ns before timeout", t + 10 * kSec - 1, t, 10, true},
      {"exactly timeout", t + 10 * kSec, t, 10, false},
      {"past timeout", t + 11 * kSec, t, 10, false},
      {"clock went backwards", t - 5 * kSec, t, 10, true},
      {"clock far backwards", 0, t, 10, true},
      {"max timeout 86400s does not overflow", t + 86400 * kSec - 1, t, 86400, true},
      {"max timeout 86400s ends", t + 86400 * kSec, t, 86400, false},
      {"default 10800s", t + 10799 * kSec, t, 10800, true},
      {"timeout 0 is never fresh", t, t, 0, false},
      {"uint32 max timeout in ns does not wrap", t + 4294967295ull * kSec - 1, t, 0xffffffffu, true},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    CHECK(static_cast<bool>(socklb_affinity_fresh(c.now, c.last, c.timeout)) == c.fresh);
  }
}

TEST_CASE("socklb_map_v4 writes ::ffff:a.b.c.d and socklb_is_v4_mapped recognises only that") {
  __be32 out[4] = {0xdeadbeef, 0xdeadbeef, 0xdeadbeef, 0xdeadbeef};
  __be32 v4 = htonl(0x0a600001);  // 10.96.0.1
  socklb_map_v4(out, v4);
  const uint8_t* b = reinterpret_cast<const uint8_t*>(out);
  const uint8_t expected[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 96, 0, 1};
  for (int i = 0; i < 16; ++i) {
    CAPTURE(i);
    CHECK(b[i] == expected[i]);
  }
  CHECK(socklb_is_v4_mapped(out));

  struct Case {
    const char* text;
    bool mapped;
  };
  const Case cases[] = {
      {"::ffff:10.96.0.1", true}, {"::ffff:0.0.0.0", true},    {"::ffff:255.255.255.255", true},
      {"::1", false},             {"::", false},               {"::fffe:10.96.0.1", false},
      {"::1:ffff:10.96.0.1", false}, {"1::ffff:10.96.0.1", false}, {"::ff:ffff:10.96.0.1", false},
      {"::10.96.0.1", false},     {"fd00::ffff:a60:1", false},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.text));
    __be32 addr[4];
    REQUIRE(inet_pton(AF_INET6, c.text, addr) == 1);
    CHECK(static_cast<bool>(socklb_is_v4_mapped(addr)) == c.mapped);
  }
}

TEST_CASE("socklb_addr_equal compares all four words") {
  __be32 a[4] = {1, 2, 3, 4};
  for (int i = 0; i < 4; ++i) {
    __be32 b[4] = {1, 2, 3, 4};
    CHECK(socklb_addr_equal(a, b));
    b[i] ^= 0x100;
    CAPTURE(i);
    CHECK_FALSE(socklb_addr_equal(a, b));
  }
}
