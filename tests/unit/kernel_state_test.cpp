// The byte layout userspace writes for the BPF programs, read back.

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include "backend_select.h"
#include "datapath/kernel_state.h"
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

  auto [vip_map, vip_bytes] = encode_vip_key(ip("10.96.0.10"));
  CHECK(vip_map == MapId::VipsV4);
  CHECK(vip_bytes == Bytes{10, 96, 0, 10});
  CHECK(encode_vip_key(ip("fd00::1")).first == MapId::VipsV6);
}

TEST_CASE("backends keep the mapped address, network-order port, family and state") {
  Backend v4{ip("10.244.0.1"), 8080, BackendState::Terminating};
  socklb_backend value = encode_backend(v4, 42);
  CHECK(value.family == SOCKLB_FAMILY_V4);
  CHECK(value.state == SOCKLB_BACKEND_TERMINATING);
  CHECK(value.service_id == 42);
  CHECK(value.port == htons(8080));
  CHECK(socklb_is_v4_mapped(value.addr));
  CHECK(decode_backend(value) == v4);

  Backend v6{ip("fd00::7"), 443, BackendState::Active};
  value = encode_backend(v6, 1);
  CHECK(value.family == SOCKLB_FAMILY_V6);
  CHECK(value.state == SOCKLB_BACKEND_ACTIVE);
  CHECK(decode_backend(value) == v6);
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
  socklb_service_value value{7, 1, 1, SOCKLB_SERVICE_AFFINITY, 30, 0};
  store.update(MapId::ServicesV4, {{encode_service_key(key).second, to_bytes(value)}});
  store.update(MapId::ServiceNames, {{to_bytes(uint32_t{7}), to_bytes(encode_name({"shop", "web"}, "http"))}});
  store.update(MapId::Slots, {{to_bytes(SlotRef{7, 1, 0}.key()), to_bytes(socklb_slot_value{9})}});
  store.update(MapId::Backends, {{to_bytes(uint32_t{9}), to_bytes(encode_backend({ip("10.244.0.1"), 8080}, 7))}});
  store.update(MapId::VipsV4, {{encode_vip_key(key.vip).second, to_bytes(socklb_vip_value{1})}});

  KernelState k = read_kernel_state(store);
  REQUIRE(k.services.count(key));
  CHECK(k.services.at(key) == value);
  CHECK(k.owner(7) == ServiceRef{"shop", "web"});
  CHECK(k.owner(8) == ServiceRef{});
  CHECK(k.owners() == std::map<ServiceKey, ServiceRef>{{key, {"shop", "web"}}});
  CHECK(k.live_backend_ids(value) == std::vector<uint32_t>{9});
  value.revision = 0;
  CHECK_FALSE(k.live_backend_ids(value));  // revision 0 has no slots
  CHECK(k.vips.at(key.vip) == 1);
  CHECK(decode_backend(k.backends.at(9)).port == 8080);
}
