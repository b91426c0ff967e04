// The counters the programs keep (service_counters, totals): zeroed when an
// id is handed out, summed over CPUs, shown by `socklb services` and /metrics.

#include "cli/services_view.h"
#include "maps/per_cpu.h"
#include "plan_helpers.h"
#include "status/datapath_counters.h"
#include "status/metrics.h"

using namespace socklb;
using namespace socklb::test;

namespace {

socklb_service_counters counted(uint64_t connects, uint64_t sends, uint64_t refused) {
  return {connects, sends, refused};
}

void count(FakeMapStore& store, uint32_t id, const socklb_service_counters& c) {
  store.update(MapId::ServiceCounters, {{to_bytes(id), to_bytes(c)}});
}

std::map<uint32_t, socklb_service_counters> counters_in(const FakeMapStore& store) {
  std::map<uint32_t, socklb_service_counters> out;
  for (const auto& [k, v] : store.dump(MapId::ServiceCounters))
    out[from_bytes<uint32_t>(k)] = from_bytes<socklb_service_counters>(v);
  return out;
}

DesiredState web_and_dns() {
  DesiredState d;
  d.services[skey("10.96.0.10", 80)] = dsvc("web", {be("10.244.0.1", 8080)}, 0, "http");
  d.services[skey("10.96.0.53", 53, Protocol::UDP)] = dsvc("dns", {be("10.244.0.5", 5353)});
  return d;
}

}  // namespace

TEST_CASE("a service id handed out starts with zero counters; ids kept keep theirs") {
  FakeMapStore store;
  // what the programs counted for ids before: previous owners, since removed
  for (uint32_t id = 1; id < 20; ++id) count(store, id, counted(100 + id, 0, 1));
  Plan first = make_plan(web_and_dns(), read_kernel_state(store), limits_of(store));
  REQUIRE(first.new_service_ids.size() == 2);
  apply_plan(first, store);
  auto after = counters_in(store);
  for (uint32_t id : first.new_service_ids) CHECK(after.count(id) == 0);  // all zeros: free
  CHECK(after.size() == 17);  // the others are not the plan's business

  // the programs count for the services now; a later plan keeps their ids and counters
  KernelState k = read_kernel_state(store);
  uint32_t web = k.services.at(skey("10.96.0.10", 80));
  count(store, web, counted(7, 0, 2));
  DesiredState d = web_and_dns();
  d.services[skey("10.96.0.10", 80)].backends.push_back(be("10.244.0.2", 8080));
  d.services[skey("10.96.0.11", 80)] = dsvc("other", {be("10.244.0.3", 8080)});
  Plan second = make_plan(d, read_kernel_state(store), limits_of(store));
  REQUIRE(second.new_service_ids.size() == 1);
  CHECK(second.new_service_ids[0] != web);
  apply_plan(second, store);
  after = counters_in(store);
  CHECK(after.at(web).connects == 7);
  CHECK(after.at(web).refused_no_backend == 2);
  CHECK(after.count(second.new_service_ids[0]) == 0);
  // not a write the sync log counts: the counters are the programs'
  CHECK(entries(second, MapId::ServiceCounters, PlanOp::Write) == 0);
}

TEST_CASE("per-CPU values: written to every CPU's copy, read back as the sum of u64 words") {
  socklb_service_counters c{1, 2, 3};
  Bytes copies = replicate_per_cpu(to_bytes(c), 3);
  REQUIRE(copies.size() == 3 * 24);
  auto sum = from_bytes<socklb_service_counters>(sum_per_cpu(copies, sizeof(c), 3));
  CHECK(sum.connects == 3);
  CHECK(sum.udp_sends == 6);
  CHECK(sum.refused_no_backend == 9);
  // a value not a multiple of 8 bytes is padded per CPU
  CHECK(per_cpu_stride(20) == 24);
  CHECK(per_cpu_stride(40) == 40);
}

TEST_CASE("socklb services: CONNECTS, SENDS and REFUSED columns; connects, refused and refused_by_reason in JSON") {
  FakeMapStore store;
  apply_plan(make_plan(web_and_dns(), read_kernel_state(store), limits_of(store)), store);
  KernelState k = read_kernel_state(store);
  count(store, k.services.at(skey("10.96.0.10", 80)), counted(1234567, 0, 3));
  count(store, k.services.at(skey("10.96.0.53", 53, Protocol::UDP)), counted(2, 40, 0));
  auto rows = service_rows_with_counters(store);
  REQUIRE(rows.size() == 2);  // dns, web

  std::string table = render_table(rows);
  CAPTURE(table);
  auto header = table.substr(0, table.find('\n'));
  for (const char* column : {"CONNECTS", "SENDS", "REFUSED"}) CHECK(header.find(column) != std::string::npos);
  // right-aligned under their headers: the number ends where the header does
  auto line_of = [&](const std::string& what) {
    auto at = table.find(what);
    return table.substr(table.rfind('\n', at) + 1, table.find('\n', at) - table.rfind('\n', at) - 1);
  };
  std::string web = line_of("default/web:http"), dns = line_of("default/dns");
  auto end_of = [&](const char* column) { return header.find(column) + std::string(column).size(); };
  CHECK(web.substr(end_of("CONNECTS") - 7, 7) == "1234567");
  CHECK(web.substr(end_of("SENDS") - 1, 1) == "-");  // TCP: no unconnected sends
  CHECK(web.substr(end_of("REFUSED") - 1, 1) == "3");
  CHECK(dns.substr(end_of("SENDS") - 2, 2) == "40");

  auto json = render_json(rows);
  CHECK(json[0]["name"] == "dns");
  CHECK(json[0]["connects"] == 2);
  CHECK(json[0]["udp_sends"] == 40);
  CHECK(json[0]["refused"] == 0);
  CHECK(json[1]["connects"] == 1234567);
  CHECK(json[1]["refused"] == 3);
  CHECK(json[1]["refused_by_reason"] == nlohmann::json{{"no-backend", 3}});
}

TEST_CASE("/metrics: the totals always; one series per service port and counter only when asked") {
  FakeMapStore store;
  apply_plan(make_plan(web_and_dns(), read_kernel_state(store), limits_of(store)), store);
  KernelState k = read_kernel_state(store);
  count(store, k.services.at(skey("10.96.0.10", 80)), counted(9, 0, 4));
  count(store, k.services.at(skey("10.96.0.53", 53, Protocol::UDP)), counted(0, 5, 0));
  socklb_totals totals{9, 5, 4, 6, 2};
  store.update(MapId::Totals, {{to_bytes(uint32_t{0}), to_bytes(totals)}});

  DatapathCounters only_totals = read_datapath_counters(store, false);
  CHECK(only_totals.services.empty());
  std::string text;
  render_datapath_counters(text, only_totals);
  CAPTURE(text);
  for (const char* line : {"socklb_connects_total 9\n", "socklb_udp_sends_translated_total 5\n",
                           "socklb_connect_refusals_total{reason=\"no-backend\"} 4\n",
                           "socklb_connect_refusals_total{reason=\"no-such-port\"} 6\n",
                           "socklb_trace_events_lost_total 2\n", "# TYPE socklb_connects_total counter\n"})
    CHECK(text.find(line) != std::string::npos);
  CHECK(text.find("socklb_service_") == std::string::npos);

  DatapathCounters all = read_datapath_counters(store, true);
  REQUIRE(all.services.size() == 2);
  CHECK(all.services[0].name == "dns");
  CHECK(all.services[1].port_name == "http");
  text.clear();
  render_datapath_counters(text, all);
  CAPTURE(text);
  const std::string web = "namespace=\"default\",service=\"web\",port_name=\"http\",cluster_ip=\"10.96.0.10\",port=\"80\","
                          "protocol=\"TCP\"";
  CHECK(text.find("socklb_service_connects_total{" + web + "} 9\n") != std::string::npos);
  CHECK(text.find("socklb_service_connect_refusals_total{" + web + ",reason=\"no-backend\"} 4\n") != std::string::npos);
  CHECK(text.find("socklb_service_udp_sends_translated_total{namespace=\"default\",service=\"dns\",port_name=\"\","
                  "cluster_ip=\"10.96.0.53\",port=\"53\",protocol=\"UDP\"} 5\n") != std::string::npos);
  // a TCP service port has no UDP sends series
  CHECK(text.find("socklb_service_udp_sends_translated_total{" + web) == std::string::npos);
}
