// The fake store the plan tests trust: it must see every single write and
// catch a broken datapath when there is one, including for connects that
// read the maps before a write and are still running after it.

#include <doctest/doctest.h>

#include "maps/kernel_state.h"
#include "fake_map_store.h"

using namespace socklb;
using namespace socklb::test;

namespace {

const ServiceKey kKey{*IpAddress::parse("10.96.0.1"), 80, Protocol::TCP};

Bytes slot_key(uint32_t id, uint8_t revision, uint16_t index) { return encode_slot_key({id, revision, index}); }

void write_backends(FakeMapStore& store, uint32_t service_id, std::vector<uint32_t> ids) {
  MapEntries entries;
  for (uint32_t id : ids) {
    Backend b{*IpAddress::parse("10.244.0.1"), static_cast<uint16_t>(8000 + id), BackendState::Active};
    entries.emplace_back(to_bytes(id), to_bytes(encode_backend(b, service_id, false)));
  }
  store.update(MapId::Backends, entries);
}

void write_slots(FakeMapStore& store, uint32_t id, uint8_t revision, std::vector<uint32_t> backend_ids) {
  MapEntries entries;
  for (uint16_t i = 0; i < backend_ids.size(); ++i)
    entries.emplace_back(slot_key(id, revision, i), to_bytes(socklb_slot_value{backend_ids[i]}));
  store.update(MapId::Slots, entries);
}

void write_state(FakeMapStore& store, uint32_t id, const ServiceKey& key, uint8_t revision, uint16_t count) {
  store.update(MapId::ServiceState, {{to_bytes(id), to_bytes(encode_state(id, key, {count, revision}))}});
}

// Nine backends: more than a state entry holds, so they are in the slots map.
const std::vector<uint32_t> kNine = {10, 11, 12, 13, 14, 15, 16, 17, 18};

// One service on 10.96.0.1:80 with nine backends, written in a safe order.
void write_service(FakeMapStore& store, uint32_t id, uint8_t revision) {
  write_backends(store, id, kNine);
  write_slots(store, id, revision, kNine);
  write_state(store, id, kKey, revision, 9);
  store.update(MapId::ServicesV4, {{encode_service_key(kKey).second, to_bytes(socklb_service_ref{id})}});
  store.update(MapId::AddrsV4, {{encode_addr_key(kKey.vip).second, to_bytes(encode_vip_addr({{kKey, id}}))}});
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
  CHECK(calls == 21);
  CHECK(store.operations() == 21);
  store.remove(MapId::Backends, {to_bytes(uint32_t{10}), to_bytes(uint32_t{99})});  // a missing key is fine
  CHECK(calls == 23);
  CHECK(store.size(MapId::Backends) == 8);  // an array entry removed is zeros, which the dump skips
}

TEST_CASE("the datapath invariant catches each way a connect could fail") {
  FakeMapStore store;
  write_service(store, 1, 0);
  store.wait_for_readers();
  REQUIRE(datapath_invariant_violations(store).empty());
  store.check_after_every_write(datapath_invariant_violations);

  SUBCASE("a backend freed while a slot names it") {
    store.remove(MapId::Backends, {to_bytes(uint32_t{11})});
    REQUIRE(store.violations().size() == 1);
    CHECK(store.violations()[0].find("names missing backend 11") != std::string::npos);
    CHECK(store.violations()[0].find("after delete #") == 0);
  }
  SUBCASE("a slot of the live revision deleted") {
    store.remove(MapId::Slots, {slot_key(1, 0, 1)});
    REQUIRE(store.violations().size() == 1);
    CHECK(store.violations()[0].find("is missing") != std::string::npos);
  }
  SUBCASE("a slot naming another service's backend") {
    write_backends(store, 2, {11});
    REQUIRE(store.violations().size() == 1);
    CHECK(store.violations()[0].find("of service 2") != std::string::npos);
  }
  SUBCASE("the VIP entry deleted before the service") {
    store.remove(MapId::AddrsV4, {encode_addr_key(kKey.vip).second});
    REQUIRE(store.violations().size() == 1);
    CHECK(store.violations()[0].find("no VIP entry") != std::string::npos);
  }
  SUBCASE("slots of the other revision do not matter") {
    store.remove(MapId::Slots, {slot_key(1, 1, 0)});
    write_slots(store, 1, 1, {77});
    CHECK(store.violations().empty());
  }
}

TEST_CASE("a connect that read the service before a flip may use the old set until the next wait for readers") {
  FakeMapStore store;
  write_service(store, 1, 0);
  store.wait_for_readers();
  store.check_after_every_write(datapath_invariant_violations);
  std::vector<uint32_t> next = {20, 21, 22, 23, 24, 25, 26, 27, 28};
  write_backends(store, 1, next);
  write_slots(store, 1, 1, next);
  write_state(store, 1, kKey, 1, 9);  // the flip
  REQUIRE(store.violations().empty());

  SUBCASE("removing the old set before the wait breaks the connects in flight") {
    store.remove(MapId::Slots, {slot_key(1, 0, 0)});
    REQUIRE(store.violations().size() == 1);
    CHECK(store.violations()[0].find("rev 0) slot 0 is missing") != std::string::npos);
  }
  SUBCASE("after the wait it is garbage") {
    store.wait_for_readers();
    for (uint16_t i = 0; i < 9; ++i) {
      store.remove(MapId::Slots, {slot_key(1, 0, i)});
      store.remove(MapId::Backends, {to_bytes(kNine[i])});
    }
    CHECK(store.violations().empty());
  }
}

TEST_CASE("an id is not given to another service while a connect may hold it") {
  FakeMapStore store;
  write_service(store, 1, 0);
  store.wait_for_readers();
  store.check_after_every_write(datapath_invariant_violations);
  // the service goes away, after a wait, as the planner removes it
  store.remove(MapId::ServicesV4, {encode_service_key(kKey).second});
  store.remove(MapId::AddrsV4, {encode_addr_key(kKey.vip).second});
  store.remove(MapId::ServiceState, {to_bytes(uint32_t{1})});
  for (uint16_t i = 0; i < 9; ++i) {
    store.remove(MapId::Slots, {slot_key(1, 0, i)});
    store.remove(MapId::Backends, {to_bytes(kNine[i])});
  }
  // a connect that read the service may still hold id 1: it misses the slots,
  // reads the key again and is refused, as after the removal
  std::size_t before = store.violations().size();
  CHECK(before == 0);

  ServiceKey other{*IpAddress::parse("10.96.0.2"), 80, Protocol::TCP};
  SUBCASE("reused before the next wait") {
    write_state(store, 1, other, 0, 0);
    CHECK(store.violations().size() > before);
    CHECK(store.violations().back().find("its id now names 10.96.0.2:80/TCP") != std::string::npos);
  }
  SUBCASE("reused after it") {
    store.wait_for_readers();
    write_state(store, 1, other, 0, 0);
    CHECK(store.violations().size() == before);
  }
}

TEST_CASE("a small service's backends live in its state entry, rewritten in place by the flip") {
  FakeMapStore store;
  write_backends(store, 1, {10, 11});
  store.update(MapId::ServiceState, {{to_bytes(uint32_t{1}), to_bytes(encode_state(1, kKey, {2, 0}, {10, 11}))}});
  store.update(MapId::ServicesV4, {{encode_service_key(kKey).second, to_bytes(socklb_service_ref{1})}});
  store.update(MapId::AddrsV4, {{encode_addr_key(kKey.vip).second, to_bytes(encode_vip_addr({{kKey, 1}}))}});
  store.wait_for_readers();
  store.check_after_every_write(datapath_invariant_violations);
  write_backends(store, 1, {12});
  store.update(MapId::ServiceState, {{to_bytes(uint32_t{1}), to_bytes(encode_state(1, kKey, {1, 0}, {12}))}});
  CHECK(store.violations().empty());
  // a connect that read two ids before the flip may still use them
  store.remove(MapId::Backends, {to_bytes(uint32_t{11})});
  REQUIRE(store.violations().size() == 1);
  CHECK(store.violations()[0].find("names missing backend 11") != std::string::npos);
}

TEST_CASE("the fake store checks entry sizes and array bounds like the kernel") {
  FakeMapStore store;
  CHECK_THROWS_AS(store.update(MapId::Backends, {{Bytes(3), Bytes(sizeof(socklb_backend))}}), std::logic_error);
  CHECK_THROWS_AS(store.update(MapId::Backends, {{Bytes(4), Bytes(1)}}), std::logic_error);
  CHECK(store.capacity(MapId::Slots) == 1024);
  store.set_capacity(MapId::Slots, 2);
  CHECK(store.capacity(MapId::Slots) == 2);
  store.set_capacity(MapId::Backends, 8);
  socklb_backend b{};
  b.service_id = 1;
  CHECK_THROWS_AS(store.update(MapId::Backends, {{to_bytes(uint32_t{8}), to_bytes(b)}}), std::runtime_error);
}
