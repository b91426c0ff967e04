// advance_state(): the kernel state the syncer carries from one sync to the
// next must be exactly what reading the maps back would give.

#include <random>

#include "plan/advance_state.h"
#include "plan_helpers.h"

using namespace socklb;
using namespace socklb::test;

namespace {

// Services appear, change backends, affinity and owners, and disappear.
DesiredState random_desired(std::mt19937& rng) {
  static const char* const kVips[] = {"10.96.0.1", "10.96.0.2", "fd00:10:96::1"};
  static const char* const kV4[] = {"10.244.0.1", "10.244.0.2", "10.244.0.3", "10.244.0.4"};
  static const char* const kV6[] = {"fd00::1", "fd00::2", "fd00::3"};
  DesiredState d;
  for (const char* vip : kVips) {
    for (uint16_t port : {80, 81, 82}) {
      if (rng() % 3 == 0) continue;
      ServiceKey key = skey(vip, port);
      std::vector<Backend> backends;
      for (uint32_t i = 0, n = rng() % 4; i < n; ++i) {
        Backend b = key.vip.is_v4() ? be(kV4[rng() % 4], 8080) : be(kV6[rng() % 3], 8080);
        if (std::find(backends.begin(), backends.end(), b) == backends.end()) backends.push_back(b);
      }
      d.services[key] = dsvc(rng() % 5 ? "web" : "api", backends, rng() % 4 ? 0 : 30, rng() % 2 ? "http" : "");
    }
  }
  return d;
}

}  // namespace

TEST_CASE("a state advanced by each plan equals the maps read back, over a random walk") {
  for (uint32_t seed : {1u, 2u, 3u, 4u}) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    FakeMapStore store;
    KernelState known = read_kernel_state(store);
    for (int step = 0; step < 150; ++step) {
      CAPTURE(step);
      Plan plan = make_plan(random_desired(rng), known, limits_of(store));
      apply_plan(plan, store);
      advance_state(known, plan);
      REQUIRE(known == read_kernel_state(store));
    }
  }
}

TEST_CASE("states differ when any map differs") {
  FakeMapStore store;
  KernelState empty = read_kernel_state(store);
  DesiredState d;
  d.services[skey("10.96.0.1", 80)] = dsvc("web", {be("10.244.0.1", 8080)});
  Plan plan = make_plan(d, empty, limits_of(store));
  KernelState after = empty;
  advance_state(after, plan);
  CHECK_FALSE(after == empty);
  KernelState names_only = after;
  names_only.backends.clear();
  CHECK_FALSE(names_only == after);
}
