#pragma once
// The vocabulary every stage shares: which ClusterIP:port a service is, which
// Kubernetes object it comes from, and its backends and what they may be used
// for. Knows nothing of the maps: only the map codec turns these into the
// structs of bpf/socklb_maps.h.

#include <cstdint>
#include <string>

#include "net/ip_address.h"
#include "net/protocol.h"

namespace socklb {

struct ServiceKey {
  IpAddress vip;
  uint16_t port = 0;
  Protocol protocol = Protocol::TCP;

  auto operator<=>(const ServiceKey&) const = default;
  std::string str() const;  // "10.96.0.10:80/TCP", "[fd00::1]:80/UDP"
};

struct ServiceRef {
  std::string ns;
  std::string name;

  auto operator<=>(const ServiceRef&) const = default;
  std::string str() const { return ns + "/" + name; }
};

// What an endpoint may still be used for. Only the first two are chosen for
// new connects; connections that already use a Serving or Listed one are
// left alone (docs/datapath.md, "Connections to pods that go away").
enum class BackendState : uint8_t {
  Active,       // ready: new connects go here
  Terminating,  // serving and terminating: new connects go here only because no ready one is left
  Serving,      // serving, not for new connects (terminating while others are ready, or left out by
                // topology or internalTrafficPolicy): a UDP flow that uses it keeps it
  Listed,       // listed by the service but not serving (not ready): its TCP connections stay open
};

// New connects may be sent to it.
inline bool chosen_for_new_connects(BackendState state) {
  return state == BackendState::Active || state == BackendState::Terminating;
}

struct Backend {
  IpAddress ip;
  uint16_t port = 0;
  BackendState state = BackendState::Active;

  auto operator<=>(const Backend&) const = default;
  std::string str() const;
};

}  // namespace socklb
