// make_plan + apply_plan: what is kept as it is (held services, services that
// do not fit) and what is cleaned up (leftovers of an interrupted sync).

#include <arpa/inet.h>

#include "plan_helpers.h"

using namespace socklb;
using namespace socklb::test;

namespace {

const ServiceKey kA = skey("10.96.0.1", 80);
const ServiceKey kB = skey("10.96.0.2", 80);

DesiredState two_services() {
  DesiredState d;
  d.services[kA] = dsvc("a", {be("10.244.0.1", 80), be("10.244.0.2", 80)});
  d.services[kB] = dsvc("b", {be("10.244.0.3", 80)});
  return d;
}

bool has_refusal(const Plan& plan, const std::string& object, const std::string& part) {
  for (const auto& d : plan.diagnostics)
    if (d.severity == Diagnostic::Severity::Error && d.object == object && d.str().find(part) != std::string::npos)
      return true;
  return false;
}

}  // namespace

TEST_CASE("a held service absent from the desired state keeps exactly what the kernel serves") {
  FakeMapStore store;
  sync_step(store, two_services());
  const auto before = store.dump(MapId::ServicesV4);
  ServedMap was = served(read_kernel_state(store));

  SUBCASE("held by name, while another service changes") {
    DesiredState d;
    d.services[kB] = dsvc("b", {be("10.244.0.4", 80)});
    d.held.insert({"default", "a"});
    ServedMap want = served(d);
    want[kA] = was[kA];
    Plan plan = sync_step(store, d, want);
    CHECK(plan.summary.held == 1);
    CHECK(plan.summary.removed == 0);
    check_serves(store, want);
  }
  SUBCASE("every service of a namespace held") {
    DesiredState d;
    d.held = {{"default", "a"}, {"default", "b"}};
    Plan plan = sync_step(store, d, was);
    CHECK(plan.summary.held == 2);
    CHECK(plan.empty());
    CHECK(store.dump(MapId::ServicesV4) == before);
  }
  SUBCASE("hold_everything keeps what is absent and still updates what is desired") {
    DesiredState d;
    d.hold_everything = true;
    d.services[kB] = dsvc("b", {be("10.244.0.5", 80)});
    ServedMap want = served(d);
    want[kA] = was[kA];
    Plan plan = sync_step(store, d, want);
    CHECK(plan.summary.held == 1);
    CHECK(plan.summary.updated == 1);
    check_serves(store, want);
  }
  SUBCASE("not held: removed") {
    Plan plan = sync_step(store, DesiredState{});
    CHECK(plan.summary.removed == 2);
    check_serves(store, {});
  }
}

TEST_CASE("a service that does not fit is refused with the flag to raise; the others apply") {
  FakeMapStore store;
  DesiredState d = two_services();

  SUBCASE("backends map full") {
    store.set_capacity(MapId::Backends, 3);  // an array: ids 1 and 2
    Plan plan = sync_step(store, d, {{kA, served(d.services[kA])}});
    CHECK(has_refusal(plan, "Service default/b", "--max-backends"));
    CHECK(plan.summary.added == 1);
    check_serves(store, {{kA, served(d.services[kA])}});
  }
  SUBCASE("services map full") {
    store.set_capacity(MapId::ServicesV4, 1);
    Plan plan = sync_step(store, d, {{kA, served(d.services[kA])}});
    CHECK(has_refusal(plan, "Service default/b", "--max-services"));
    check_serves(store, {{kA, served(d.services[kA])}});
  }
  SUBCASE("VIP map full") {
    store.set_capacity(MapId::AddrsV4, 1);  // a's VIP; its pods are left out (a warning), b's VIP does not fit
    Plan plan = sync_step(store, d, {{kA, served(d.services[kA])}});
    CHECK(has_refusal(plan, "Service default/b", "addrs_v4"));
  }
  SUBCASE("a served service that outgrows the maps keeps its old backends") {
    store.set_capacity(MapId::Backends, 5);  // ids 1..4
    sync_step(store, d);
    ServedMap was = served(read_kernel_state(store));
    DesiredState grown = d;
    grown.services[kA] = dsvc("a", {be("10.244.0.1", 80), be("10.244.0.2", 80), be("10.244.1.1", 80), be("10.244.1.2", 80)});
    grown.services[kB] = dsvc("b", {});  // frees its backend only after the peak: no help
    ServedMap want = was;
    want[kB] = served(grown.services[kB]);
    Plan plan = sync_step(store, grown, want);
    CHECK(has_refusal(plan, "Service default/a", "--max-backends"));
    CHECK(plan.summary.held == 1);
    check_serves(store, want);
    // once there is room, it applies
    store.set_capacity(MapId::Backends, 9);
    sync_step(store, grown);
    check_serves(store, served(grown));
  }
  SUBCASE("a new slot set must fit beside the old one") {
    store.set_capacity(MapId::Slots, 20);
    d.services[kA] = dsvc("a", many(10));  // 10 slots
    sync_step(store, d);
    DesiredState moved = d;
    moved.services[kA] = dsvc("a", many(11));  // 10 live + 11 new > 20
    ServedMap want = served(read_kernel_state(store));
    Plan plan = sync_step(store, moved, want);
    CHECK(has_refusal(plan, "Service default/a", "slots"));
    check_serves(store, want);
  }
  SUBCASE("more backends than a 16-bit slot index can address") {
    std::vector<Backend> many;
    for (uint32_t i = 0; i < 65536; ++i) many.push_back({IpAddress::from_v4(htonl(0x0af00000u + i)), 80});
    d.services[kA] = dsvc("a", std::move(many));
    Plan plan = make_plan(d, read_kernel_state(store), limits_of(store));
    CHECK(has_refusal(plan, "Service default/a", "at most 65535"));
    CHECK(entries(plan, MapId::Backends, PlanOp::Write) == 1);  // b's only
  }
  SUBCASE("the fake store itself refuses a write past capacity") {
    store.set_capacity(MapId::Slots, 1);
    socklb_slot_value v{1};
    store.update(MapId::Slots, {{encode_slot_key({1, 0, 0}), to_bytes(v)}});
    store.update(MapId::Slots, {{encode_slot_key({1, 0, 0}), to_bytes(v)}});  // overwriting is fine
    CHECK_THROWS_AS(store.update(MapId::Slots, {{encode_slot_key({1, 0, 1}), to_bytes(v)}}), std::runtime_error);
  }
}

TEST_CASE("leftovers of an interrupted sync are cleaned; served services are untouched") {
  FakeMapStore store;
  DesiredState d = two_services();
  sync_step(store, d);
  KernelState k = read_kernel_state(store);
  const socklb_service_state a = state_of(k, kA);

  // what a sync killed between its phases can leave behind
  socklb_backend orphan = encode_backend(be("10.244.9.9", 80), 999, false);
  store.update(MapId::Backends, {{to_bytes(uint32_t{500}), to_bytes(orphan)}});
  store.update(MapId::ServiceState, {{to_bytes(uint32_t{999}), to_bytes(encode_state(999, skey("10.96.0.99", 80), {1, 0}))}});
  store.update(MapId::Slots, {{encode_slot_key({999, 0, 0}), to_bytes(socklb_slot_value{500})}});
  store.update(MapId::Slots, {{encode_slot_key({a.id, static_cast<uint8_t>(a.revision ^ 1), 0}), to_bytes(socklb_slot_value{500})}});
  store.update(MapId::Slots, {{encode_slot_key({a.id, a.revision, 7}), to_bytes(socklb_slot_value{500})}});
  store.update(MapId::ServiceNames, {{to_bytes(uint32_t{999}), to_bytes(encode_name({"default", "gone"}, ""))}});
  store.update(MapId::AddrsV4, {{encode_addr_key(addr("10.96.0.99")).second, to_bytes(encode_vip_addr({{skey("10.96.0.99", 80), 999}}))}});

  SUBCASE("the next sync deletes them") {
    Plan plan = sync_step(store, d);
    CHECK(entries(plan, MapId::Slots, PlanOp::Remove) == 3);
    CHECK(entries(plan, MapId::Backends, PlanOp::Remove) == 1);
    CHECK(plan.released_backend_ids == std::vector<uint32_t>{500});
    CHECK(plan.released_service_ids == std::vector<uint32_t>{999});
    CHECK(entries(plan, MapId::ServiceNames, PlanOp::Remove) == 1);
    CHECK(entries(plan, MapId::AddrsV4, PlanOp::Remove) == 1);
    CHECK(entries(plan, MapId::ServicesV4, PlanOp::Write) == 0);
    check_serves(store, served(d));
  }
  SUBCASE("a service added in that sync gets ids no leftover uses") {
    const ServiceKey kC = skey("10.96.0.3", 80);
    d.services[kC] = dsvc("c", {be("10.244.0.7", 80)});
    sync_step(store, d);
    check_serves(store, served(d));
    KernelState now = read_kernel_state(store);
    socklb_service_state c = state_of(now, kC);
    CHECK(c.id != 999);
    REQUIRE(c.backend_count == 1);
    CHECK(c.backend_ids[0] != 500);
  }
}

TEST_CASE("a service whose live slot went missing is rebuilt on the other revision") {
  FakeMapStore store;
  DesiredState d = two_services();
  d.services[kA] = dsvc("a", many(9));  // in the slots map
  sync_step(store, d);
  const socklb_service_state a = state_of(read_kernel_state(store), kA);
  store.remove(MapId::Slots, {encode_slot_key({a.id, a.revision, 1})});
  REQUIRE_FALSE(datapath_invariant_violations(store).empty());  // the checker sees the hole

  KernelState before = read_kernel_state(store);
  Plan plan = make_plan(d, before, limits_of(store));
  CHECK(entries(plan, MapId::Slots, PlanOp::Write) == 9);
  apply_plan(plan, store);
  store.wait_for_readers();
  CHECK(datapath_invariant_violations(store).empty());
  check_serves(store, served(d));
  CHECK(state_of(read_kernel_state(store), kA).revision == (a.revision ^ 1));
}
