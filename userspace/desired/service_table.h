#pragma once
// The desired state: for every ClusterIP:port/protocol, the backends that
// should serve it now. Built from the manifests by reconcile(), compared
// with the kernel by the planner.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "manifests/diagnostic.h"
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

struct DesiredService {
  ServiceRef ref;
  std::string port_name;
  uint32_t affinity_timeout_sec = 0;  // 0: no session affinity
  // Every endpoint the service lists (each address:port once), sorted, with
  // what it may be used for; none chosen for new connects means they are refused.
  std::vector<Backend> backends;
  SourceLocation where;               // of the Service, for errors about it
};

struct DesiredState {
  std::map<ServiceKey, DesiredService> services;
  // Services whose input is broken: whatever the kernel serves for them stays.
  std::set<ServiceRef> held;
  std::set<std::string> held_namespaces;
  bool hold_everything = false;
  Diagnostics diagnostics;

  // Its own input is broken: it is neither rebuilt nor removed.
  bool input_broken(const ServiceRef& ref) const { return held.count(ref) || held_namespaces.count(ref.ns); }
  // What the kernel serves for it must stay if it is not desired now.
  bool is_held(const ServiceRef& ref) const { return hold_everything || input_broken(ref); }
};

}  // namespace socklb
