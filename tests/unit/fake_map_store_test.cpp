// The fake store the plan tests trust: it must see every single write and
// catch a broken datapath when there is one.

#include <doctest/doctest.h>

#include "datapath/kernel_state.h"
#include "fake_map_store.h"

using namespace socklb;
using namespace socklb::test;

namespace {

// One service on 10.96.0.1:80 with two backends, written in a safe order.
void write_service(FakeMapStore& store, uint32_t id, uint8_t revision) {
  ServiceKey key{*IpAddress::parse("10.96.0.1"), 80, Protocol::TCP};
  socklb_backend b{};
  b.service_id = id;
  store.update(MapId::VipsV4, {{encode_vip_key(key.vip).second, to_bytes(socklb_vip_value{1})}});
  store.update(MapId::Backends, {{to_bytes(uint32_t{10}), to_bytes(b)}, {to_bytes(uint32_t{11}), to_bytes(b)}});
  store.update(MapId::Slots, {{to_bytes(SlotRef{id, revision, 0}.key()), to_bytes(socklb_slot_value{10})},
                              {to_bytes(SlotRef{id, revision, 1}.key()), to_bytes(socklb_slot_value{11})}});
  socklb_service_value value{};
  value.id = id;
  value.backend_count = 2;
  value.revision = revision;
  store.update(MapId::ServicesV4, {{encode_service_key(key).second, to_bytes(value)}});
}

}  // namespace

TEST_CASE("the checker runs after each single key of a batch") {
  FakeMapStore store;
  int calls = 0;
  store.check_after_every_write([&](const FakeMapStore&) {
    ++calls;
    return std::vector<std::string>{};
  });
  write_service(store, 1, 0);
  CHECK(calls == 6);
  CHECK(store.operations() == 6);
  store.remove(MapId::Backends, {to_bytes(uint32_t{10}), to_bytes(uint32_t{99})});  // a missing key is fine
  CHECK(calls == 8);
  CHECK(store.size(MapId::Backends) == 1);
}

TEST_CASE("the datapath invariant catches each way a connect could fail") {
  FakeMapStore store;
  write_service(store, 1, 0);
  REQUIRE(datapath_invariant_violations(store).empty());
  store.check_after_every_write(datapath_invariant_violations);

  SUBCASE("a backend deleted while a slot names it") {
    store.remove(MapId::Backends, {to_bytes(uint32_t{11})});
    REQUIRE(store.violations().size() == 1);
    CHECK(store.violations()[0].find("names missing backend 11") != std::string::npos);
    CHECK(store.violations()[0].find("after delete #7 in backends") == 0);
  }
  SUBCASE("a slot of the live revision deleted") {
    store.remove(MapId::Slots, {to_bytes(SlotRef{1, 0, 1}.key())});
    REQUIRE(store.violations().size() == 1);
    CHECK(store.violations()[0].find("is missing") != std::string::npos);
  }
  SUBCASE("a slot naming another service's backend") {
    socklb_backend stranger{};
    stranger.service_id = 2;
    store.update(MapId::Backends, {{to_bytes(uint32_t{11}), to_bytes(stranger)}});
    REQUIRE(store.violations().size() == 1);
    CHECK(store.violations()[0].find("of service 2") != std::string::npos);
  }
  SUBCASE("the VIP entry deleted before the service") {
    store.remove(MapId::VipsV4, {encode_vip_key(*IpAddress::parse("10.96.0.1")).second});
    REQUIRE(store.violations().size() == 1);
    CHECK(store.violations()[0].find("no VIP entry") != std::string::npos);
  }
  SUBCASE("slots of the other revision do not matter") {
    store.remove(MapId::Slots, {to_bytes(SlotRef{1, 1, 0}.key())});
    store.update(MapId::Slots, {{to_bytes(SlotRef{1, 1, 5}.key()), to_bytes(socklb_slot_value{77})}});
    CHECK(store.violations().empty());
  }
}

TEST_CASE("the fake store checks entry sizes like the kernel") {
  FakeMapStore store;
  CHECK_THROWS_AS(store.update(MapId::Backends, {{Bytes(3), Bytes(sizeof(socklb_backend))}}), std::logic_error);
  CHECK_THROWS_AS(store.update(MapId::Backends, {{Bytes(4), Bytes(1)}}), std::logic_error);
  CHECK(store.capacity(MapId::Slots) == 1024);
  store.set_capacity(MapId::Slots, 2);
  CHECK(store.capacity(MapId::Slots) == 2);
}
