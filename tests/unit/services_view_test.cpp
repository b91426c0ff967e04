// `socklb services`: rows, table and JSON from what the maps hold.

#include "cli/services_view.h"
#include "plan_helpers.h"

using namespace socklb;
using namespace socklb::test;

namespace {

// Served through a real plan, so the view reads what the agent writes.
KernelState sample_state(bool break_one = false) {
  FakeMapStore store;
  DesiredState d;
  d.services[skey("10.96.0.10", 80)] = dsvc("user-service", {be("10.244.0.2", 8080), be("10.244.0.1", 8080)}, 0, "http");
  d.services[skey("10.96.0.10", 443)] = dsvc("user-service", {}, 0, "https");
  d.services[skey("fd00:10:96::b", 53, Protocol::UDP)] =
      dsvc("dns", {be("fd00::5", 5353, BackendState::Terminating)}, 10800);
  apply_plan(make_plan(d, read_kernel_state(store), limits_of(store)), store);
  KernelState k = read_kernel_state(store);
  if (break_one) {
    const auto dns = state_of(k, skey("fd00:10:96::b", 53, Protocol::UDP));
    k.backends.erase(dns.backend_ids[0]);
  }
  return k;
}

}  // namespace

TEST_CASE("service_rows: one row per ClusterIP:port, sorted by service, with live backends") {
  auto rows = service_rows(sample_state());
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].ref == ServiceRef{"default", "dns"});
  CHECK(rows[0].key == skey("fd00:10:96::b", 53, Protocol::UDP));
  CHECK(rows[0].affinity_timeout_sec == 10800);
  CHECK(rows[0].fallback);
  CHECK_FALSE(rows[0].incomplete);
  REQUIRE(rows[0].backends.size() == 1);
  CHECK(rows[0].backends[0].second.state == BackendState::Terminating);

  CHECK(rows[1].port_name == "http");
  CHECK(rows[1].key.port == 80);
  CHECK(rows[1].affinity_timeout_sec == 0);
  CHECK_FALSE(rows[1].fallback);
  REQUIRE(rows[1].backends.size() == 2);
  std::vector<std::string> addresses;
  for (const auto& [id, b] : rows[1].backends) {
    CHECK(id != 0);
    addresses.push_back(b.str());
  }
  std::sort(addresses.begin(), addresses.end());
  CHECK(addresses == std::vector<std::string>{"10.244.0.1:8080", "10.244.0.2:8080"});

  CHECK(rows[2].port_name == "https");
  CHECK(rows[2].backends.empty());
}

TEST_CASE("service_rows flags a service with a missing slot or name") {
  auto rows = service_rows(sample_state(true));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].incomplete);
  CHECK(rows[0].backends.empty());
  CHECK_FALSE(rows[1].incomplete);

  KernelState k = sample_state();
  k.names.clear();
  rows = service_rows(k);
  CHECK(rows[0].ref == ServiceRef{});
  CHECK(render_table(rows).find("?  ") != std::string::npos);
}

TEST_CASE("render_table: a header, one aligned line per row, the state of each backend") {
  std::string table = render_table(service_rows(sample_state()));
  std::vector<std::string> lines;
  for (std::size_t start = 0, end; (end = table.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(table.substr(start, end - start));
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].rfind("SERVICE", 0) == 0);
  for (const char* column : {"CLUSTERIP", "PORT", "PROTO", "AFFINITY", "BACKENDS"})
    CHECK(lines[0].find(column) != std::string::npos);
  CHECK(lines[1].rfind("default/dns", 0) == 0);
  CHECK(lines[1].find("fd00:10:96::b") != std::string::npos);
  CHECK(lines[1].find("UDP") != std::string::npos);
  CHECK(lines[1].find("10800s") != std::string::npos);
  CHECK(lines[1].find("[fd00::5]:5353(terminating)") != std::string::npos);
  CHECK(lines[2].rfind("default/user-service:http", 0) == 0);
  CHECK(lines[2].find("10.244.0.1:8080") != std::string::npos);
  CHECK(lines[2].find("10.244.0.2:8080") != std::string::npos);
  CHECK(lines[3].find("none: connections are refused") != std::string::npos);
  // columns line up: CLUSTERIP starts at the same place on every line
  auto column = lines[0].find("CLUSTERIP");
  CHECK(lines[1].find("fd00:10:96::b") == column);
  CHECK(lines[2].find("10.96.0.10") == column);

  CHECK(render_table({}) == "no services are served\n");
  CHECK(render_table(service_rows(sample_state(true))).find("[incomplete]") != std::string::npos);
}

TEST_CASE("render_json: every field of a row, null affinity when there is none") {
  auto json = render_json(service_rows(sample_state()));
  REQUIRE(json.is_array());
  REQUIRE(json.size() == 3);
  const auto& dns = json[0];
  CHECK(dns["namespace"] == "default");
  CHECK(dns["name"] == "dns");
  CHECK(dns["port_name"] == "");
  CHECK(dns["cluster_ip"] == "fd00:10:96::b");
  CHECK(dns["port"] == 53);
  CHECK(dns["protocol"] == "UDP");
  CHECK(dns["session_affinity_timeout_seconds"] == 10800);
  CHECK(dns["serving_terminating_fallback"] == true);
  CHECK(dns["incomplete"] == false);
  REQUIRE(dns["backends"].size() == 1);
  CHECK(dns["backends"][0]["address"] == "fd00::5");
  CHECK(dns["backends"][0]["port"] == 5353);
  CHECK(dns["backends"][0]["state"] == "terminating");
  CHECK(dns["backends"][0]["id"].get<uint32_t>() != 0);

  const auto& http = json[1];
  CHECK(http["session_affinity_timeout_seconds"].is_null());
  CHECK(http["backends"].size() == 2);
  CHECK(http["backends"][0]["state"] == "active");
  CHECK(json[2]["backends"].empty());
  CHECK(render_json({}).dump() == "[]");
}

TEST_CASE("service_rows: the live count, every entry of the service and whether its ClusterIP is reachable") {
  auto rows = service_rows(sample_state());
  REQUIRE(rows.size() == 3);
  for (const auto& row : rows) CHECK(row.reachable);
  CHECK(rows[0].live == 1);  // dns: its terminating backend is the live set (fallback)
  CHECK(rows[0].entries == rows[0].backends);
  CHECK(rows[1].live == 2);
  CHECK(rows[1].entries.size() == 2);
  CHECK(rows[2].live == 0);
  CHECK(rows[2].entries.empty());

  // a backend entry written for the service but not in its live set (a sync
  // between its phases) is among its entries, not its backends
  KernelState k = sample_state();
  socklb_backend extra = k.backends.at(rows[1].backends[0].first);  // an active backend of the http port
  k.backends[4000] = extra;
  auto with_extra = service_rows(k);
  CHECK(with_extra[1].live == 2);
  CHECK(with_extra[1].backends.size() == 2);
  CHECK(with_extra[1].entries.size() == 3);

  k.addrs.erase(skey("10.96.0.10", 80).vip);
  CHECK_FALSE(service_rows(k)[1].reachable);
  CHECK(service_rows(k)[0].reachable);
}
