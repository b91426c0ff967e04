#pragma once
// `socklb explain ADDRESS:PORT[/tcp|udp]`: what a connect to that destination
// from the served cgroup would do now, read from the maps as the programs
// read them: left alone, translated to one of which backends, or refused and
// why.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/services_view.h"
#include "maps/kernel_state.h"

namespace socklb {

struct Destination {
  IpAddress ip;
  uint16_t port = 0;
  Protocol protocol = Protocol::TCP;
};

// "10.96.0.10:80", "10.96.0.10:53/udp", "[fd00:10:96::1]:80/tcp"; nullopt when it is none of these.
std::optional<Destination> parse_destination(const std::string& text);

struct Explanation {
  Destination to;
  std::string verdict;  // "translated", "refused" or "untouched"
  std::string reason;   // refused: "no-backend", "no-such-port"; untouched: "not-a-service-address", "pod-address"
  std::optional<ServiceRow> service;  // the ClusterIP:port's service, when there is one
  std::vector<std::string> backs;     // untouched pod address: the service ports it backs ("default/web:http")
};

Explanation explain(const KernelState& state, const Destination& to);
std::string render_text(const Explanation& e);
nlohmann::json render_json(const Explanation& e);

}  // namespace socklb
