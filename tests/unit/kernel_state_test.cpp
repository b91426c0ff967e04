// The byte layout userspace writes for the BPF programs, read back.

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include "backend_select.h"
#include "maps/kernel_state.h"
#include "fake_map_store.h"

using namespace socklb;
using namespace socklb::test;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

}  // namespace

TEST_CASE("service keys are laid out as bpf/lb.h looks them up") {
  auto [map4, bytes4] = encode_service_key({ip("10.96.0.10"), 8080, Protocol::UDP});
  CHECK(map4 == MapId::ServicesV4);
  REQUIRE(bytes4.size() == sizeof(socklb_service4_key));
  const uint8_t expected4[8] = {10, 96, 0, 10, 0x1f, 0x90, SOCKLB_PROTO_UDP, 0};
  CHECK(std::equal(bytes4.begin(), bytes4.end(), expected4));

  auto [map6, bytes6] = encode_service_key({ip("fd00::1"), 53, Protocol::TCP});
  CHECK(map6 == MapId::ServicesV6);
  auto key6 = from_bytes<socklb_service6_key>(bytes6);
  CHECK(IpAddress::from_words(key6.vip) == ip("fd00::1"));
  CHECK(ntohs(key6.port) == 53);
  CHECK(key6.proto == SOCKLB_PROTO_TCP);
  CHECK(key6.pad == 0);

  auto [addr_map, addr_bytes] = encode_addr_key(ip("10.96.0.10"));
  CHECK(addr_map == MapId::AddrsV4);
  CHECK(addr_bytes == Bytes{10, 96, 0, 10});
  CHECK(encode_addr_key(ip("fd00::1")).first == MapId::AddrsV6);
  CHECK(decode_service_key(map4, bytes4) == ServiceKey{ip("10.96.0.10"), 8080, Protocol::UDP});
  CHECK(decode_service_key(map6, bytes6) == ServiceKey{ip("fd00::1"), 53, Protocol::TCP});
}

TEST_CASE("backends keep the mapped address, network-order port, family, state and flags") {
  Backend v4{ip("10.244.0.1"), 8080, BackendState::Terminating};
  socklb_backend value = encode_backend(v4, 42, true);
  CHECK(value.family == SOCKLB_FAMILY_V4);
  CHECK(value.state == SOCKLB_BACKEND_TERMINATING);
  CHECK(value.flags == SOCKLB_BACKEND_SHARED);
  CHECK(value.service_id == 42);
  CHECK(value.port == htons(8080));
  CHECK(value.lock.val == 0);
  CHECK(socklb_is_v4_mapped(value.addr));
  CHECK(decode_backend(value) == v4);
  CHECK(backend_shared(value));

  Backend v6{ip("fd00::7"), 443, BackendState::Active};
  value = encode_backend(v6, 1, false);
  CHECK(value.family == SOCKLB_FAMILY_V6);
  CHECK(value.state == SOCKLB_BACKEND_ACTIVE);
  CHECK(decode_backend(value) == v6);

  Backend serving{ip("10.244.0.2"), 80, BackendState::Serving};
  CHECK(encode_backend(serving, 1, false).state == SOCKLB_BACKEND_SERVING);
  CHECK(decode_backend(encode_backend(serving, 1, false)) == serving);
  // an endpoint that does not serve has no entry: the planner never asks
  CHECK_THROWS_AS(encode_backend({ip("10.244.0.3"), 80, BackendState::Listed}, 1, false), std::logic_error);
}

TEST_CASE("a service state carries its key, so a connect can tell an id is its own") {
  ServiceKey key{ip("10.96.0.10"), 53, Protocol::UDP};
  socklb_service_state s = encode_state(9, key, {3, 1, true, false, 60});
  CHECK(state_key(s) == key);
  CHECK(s.id == 9);
  CHECK(s.port == htons(53));
  CHECK(s.proto == SOCKLB_PROTO_UDP);
  CHECK(socklb_is_v4_mapped(s.vip));
  CHECK(s.flags == SOCKLB_SERVICE_AFFINITY);
  ServiceShape shape = decode_shape(s);
  CHECK(shape.backend_count == 3);
  CHECK(shape.revision == 1);
  CHECK(shape.affinity_timeout_sec == 60);
  // a free entry is all zeros, and port 0 is no service's: it never matches a key
  CHECK(state_key(socklb_service_state{}).port == 0);
}

TEST_CASE("a small service's live set is in its state entry; a ClusterIP's first ports in its addrs entry") {
  ServiceKey key{ip("10.96.0.10"), 80, Protocol::TCP};
  socklb_service_state s = encode_state(3, key, {2, 0}, {41, 42});
  CHECK(s.backend_ids[0] == 41);
  CHECK(s.backend_ids[1] == 42);
  CHECK(s.backend_ids[2] == 0);
  CHECK(KernelState{}.live_backend_ids(s) == std::vector<uint32_t>{41, 42});
  socklb_service_state big = encode_state(3, key, {9, 1}, std::vector<uint32_t>(9, 7));
  CHECK(big.backend_ids[0] == 0);  // nine: they go to the slots map
  CHECK_FALSE(KernelState{}.live_backend_ids(big));

  std::vector<std::pair<ServiceKey, uint32_t>> ports;
  for (uint16_t p = 1; p <= 5; ++p) ports.emplace_back(ServiceKey{key.vip, static_cast<uint16_t>(100 - p), Protocol::TCP}, p);
  socklb_addr_value v = encode_vip_addr(ports);
  CHECK(addr_is_vip(v));
  CHECK(v.refs == 5);
  CHECK(v.ports[0].port == htons(95));  // sorted; the fifth is only in services_v4
  CHECK(v.ports[0].service_id == 5);
  CHECK(v.ports[3].port == htons(98));
  CHECK(v.ports[0].proto == SOCKLB_PROTO_TCP);
  CHECK_FALSE(addr_is_vip(encode_pod_addr(2)));
}

TEST_CASE("reverse keys and values hold the pod endpoint and the ClusterIP it serves") {
  ReverseKey endpoint{ip("10.244.0.5"), 8080, Protocol::TCP};
  Bytes key = encode_reverse_key(endpoint);
  CHECK(decode_reverse_key(key) == endpoint);
  auto raw = from_bytes<socklb_reverse_key>(key);
  CHECK(raw.port == htons(8080));
  CHECK(raw.pad == 0);
  socklb_reverse_value v = encode_reverse({ip("10.96.0.10"), 80, Protocol::TCP});
  CHECK(IpAddress::from_words(v.vip) == ip("10.96.0.10"));
  CHECK(v.vip_port == htons(80));
}

TEST_CASE("names are NUL-padded and cut to fit their field") {
  std::string long_name(100, 'x');
  socklb_service_name name = encode_name({"default", long_name}, "http");
  CHECK(name_field(name.ns, sizeof(name.ns)) == "default");
  CHECK(name_field(name.name, sizeof(name.name)) == std::string(SOCKLB_NAME_LEN - 1, 'x'));
  CHECK(name.name[SOCKLB_NAME_LEN - 1] == '\0');
  CHECK(name_field(name.port_name, sizeof(name.port_name)) == "http");
  CHECK(name == encode_name({"default", long_name}, "http"));
  // these operators live in namespace socklb, out of doctest's reach: compare first
  bool same_as_https = name == encode_name({"default", long_name}, "https");
  CHECK_FALSE(same_as_https);
}

TEST_CASE("read_kernel_state decodes every map") {
  FakeMapStore store;
  ServiceKey key{ip("10.96.0.10"), 80, Protocol::TCP};
  socklb_service_state state = encode_state(7, key, {9, 1, true, false, 30});  // 9 backends: in the slots map
  store.update(MapId::ServicesV4, {{encode_service_key(key).second, to_bytes(socklb_service_ref{7})}});
  store.update(MapId::ServiceState, {{to_bytes(uint32_t{7}), to_bytes(state)}});
  store.update(MapId::ServiceNames, {{to_bytes(uint32_t{7}), to_bytes(encode_name({"shop", "web"}, "http"))}});
  for (uint16_t i = 0; i < 9; ++i) store.update(MapId::Slots, {{encode_slot_key({7, 1, i}), to_bytes(socklb_slot_value{9})}});
  store.update(MapId::Backends,
               {{to_bytes(uint32_t{9}), to_bytes(encode_backend({ip("10.244.0.1"), 8080}, 7, false))}});
  store.update(MapId::AddrsV4, {{encode_addr_key(key.vip).second, to_bytes(encode_vip_addr({{key, 7}}))}});
  store.update(MapId::Reverse,
               {{encode_reverse_key({ip("10.244.0.1"), 8080, Protocol::TCP}), to_bytes(encode_reverse(key))}});

  KernelState k = read_kernel_state(store);
  REQUIRE(k.services.count(key));
  CHECK(k.services.at(key) == 7);
  REQUIRE(k.served(key) != nullptr);
  CHECK(*k.served(key) == state);
  CHECK(k.owner(7) == ServiceRef{"shop", "web"});
  CHECK(k.owner(8) == ServiceRef{});
  CHECK(k.owners() == std::map<ServiceKey, ServiceRef>{{key, {"shop", "web"}}});
  CHECK(k.live_backend_ids(state) == std::vector<uint32_t>(9, 9));
  state.revision = 0;
  CHECK_FALSE(k.live_backend_ids(state));  // revision 0 has no slots
  CHECK(addr_is_vip(k.addrs.at(key.vip)));
  CHECK(decode_backend(k.backends.at(9)).port == 8080);
  CHECK(k.reverse.size() == 1);

  // an id whose state carries another key does not serve this one
  store.update(MapId::ServiceState, {{to_bytes(uint32_t{7}), to_bytes(encode_state(7, {ip("10.96.0.11"), 80}, {}))}});
  CHECK(read_kernel_state(store).served(key) == nullptr);
  // a zero write frees an array entry
  store.update(MapId::ServiceState, {{to_bytes(uint32_t{7}), Bytes(sizeof(socklb_service_state), 0)}});
  CHECK(read_kernel_state(store).states.empty());
}
