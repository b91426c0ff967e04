#include "cli/explain.h"

#include <algorithm>

#include <fmt/format.h>

namespace socklb {

std::optional<Destination> parse_destination(const std::string& text) {
  Destination d;
  std::string rest = text;
  if (auto slash = rest.rfind('/'); slash != std::string::npos) {
    std::string proto = rest.substr(slash + 1);
    std::transform(proto.begin(), proto.end(), proto.begin(), ::toupper);
    auto p = parse_protocol(proto);
    if (!p || *p == Protocol::SCTP) return std::nullopt;
    d.protocol = *p;
    rest.resize(slash);
  }
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon + 1 == rest.size()) return std::nullopt;
  std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string::npos) return std::nullopt;  // IPv6 needs its brackets
  auto ip = IpAddress::parse(host);
  if (!ip || !std::all_of(port.begin(), port.end(), ::isdigit) || port.size() > 5) return std::nullopt;
  unsigned long number = std::stoul(port);
  if (number == 0 || number > 65535) return std::nullopt;
  d.ip = *ip;
  d.port = static_cast<uint16_t>(number);
  return d;
}

Explanation explain(const KernelState& state, const Destination& to) {
  Explanation e{to, "untouched", "not-a-service-address", std::nullopt, {}};
  auto addr = state.addrs.find(to.ip);
  if (addr == state.addrs.end()) return e;
  auto rows = service_rows(state);
  if (!addr_is_vip(addr->second)) {
    // a pod that backs services: dialled directly, it is left alone (and marked, so getpeername shows the pod)
    e.reason = "pod-address";
    for (const auto& row : rows)
      for (const auto& [id, b] : row.backends)
        if (b.ip == to.ip && b.port == to.port && row.key.protocol == to.protocol) e.backs.push_back(service_label(row));
    return e;
  }
  ServiceKey key{to.ip, to.port, to.protocol};
  auto row = std::find_if(rows.begin(), rows.end(), [&](const ServiceRow& r) { return r.key == key; });
  if (row == rows.end()) {
    e.verdict = "refused";
    e.reason = "no-such-port";
    return e;
  }
  e.service = *row;
  if (row->live == 0 || row->incomplete) {
    e.verdict = "refused";
    e.reason = "no-backend";
    return e;
  }
  e.verdict = "translated";
  e.reason = "";
  return e;
}

namespace {

std::string destination_text(const Destination& d) {
  return ServiceKey{d.ip, d.port, d.protocol}.str();
}

}  // namespace

std::string render_text(const Explanation& e) {
  std::string to = destination_text(e.to);
  if (e.verdict == "untouched" && e.reason == "not-a-service-address")
    return to + ": untouched: not a ClusterIP, nor a pod that backs one; the connect goes where it was dialled\n";
  if (e.verdict == "untouched") {
    std::string list;
    for (const auto& s : e.backs) list += (list.empty() ? "" : ", ") + s;
    return to + ": untouched: a pod address" + (list.empty() ? "" : " that backs " + list) +
           "; dialled directly, the connect goes to it, and getpeername() shows the pod\n";
  }
  if (e.reason == "no-such-port")
    return to + ": refused (ECONNREFUSED): " + e.to.ip.str() + " is a ClusterIP, but it has no " +
           std::to_string(e.to.port) + "/" + std::string(protocol_name(e.to.protocol)) + " port\n";
  const ServiceRow& row = *e.service;
  std::string out = to + ": service " + service_label(row) + "\n";
  if (e.verdict == "refused") {
    out += "  refused (ECONNREFUSED): no backend new connects may use";
    out += row.backends.empty() ? " (none listed)\n"
                                : fmt::format(" ({} listed, none ready or serving while terminating)\n", row.backends.size());
  } else {
    out += fmt::format("  translated to one of {} backend{}, chosen at random{}:\n", row.live, row.live == 1 ? "" : "s",
                       row.affinity_timeout_sec
                           ? fmt::format(" (sessionAffinity ClientIP: a client keeps its backend for {} s)", row.affinity_timeout_sec)
                           : "");
    if (row.fallback) out += "  (no ready backend: serving terminating ones)\n";
  }
  for (std::size_t i = 0; i < row.backends.size(); ++i) {
    const auto& b = row.backends[i].second;
    out += fmt::format("    {}:{}  {}{}\n", b.ip.str(), b.port, state_name(b.state),
                       i < row.live ? "" : "  (kept for connections that use it; no new ones)");
  }
  return out;
}

nlohmann::json render_json(const Explanation& e) {
  nlohmann::json out = {{"address", e.to.ip.str()},
                        {"port", e.to.port},
                        {"protocol", protocol_name(e.to.protocol)},
                        {"verdict", e.verdict},
                        {"reason", e.reason.empty() ? nlohmann::json() : nlohmann::json(e.reason)}};
  if (e.service) out["service"] = render_json(std::vector<ServiceRow>{*e.service}).at(0);
  if (!e.backs.empty()) out["backs"] = e.backs;
  return out;
}

}  // namespace socklb
