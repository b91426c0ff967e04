#pragma once
// The Kubernetes objects socklb reads, typed and validated. Only the fields
// the datapath needs; everything else in a manifest is ignored.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "manifests/diagnostic.h"
#include "net/ip_address.h"
#include "net/protocol.h"

namespace socklb {

using Labels = std::map<std::string, std::string>;

// A label selector (matchLabels) picks labels that hold every pair of it.
bool selector_matches(const Labels& selector, const Labels& labels);

struct ObjectMeta {
  std::string kind;
  std::string ns;
  std::string name;
  Labels labels;
  bool deleting = false;  // metadata.deletionTimestamp is set
  SourceLocation where;

  std::string ref() const { return kind + " " + ns + "/" + name; }  // "Service default/web"
  // Same content; where it stands in its file does not count (a document
  // moved down by an edit above it is the same object).
  bool operator==(const ObjectMeta& o) const {
    return kind == o.kind && ns == o.ns && name == o.name && labels == o.labels && deleting == o.deleting;
  }
};

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::TCP;
  uint16_t port = 0;
  std::variant<uint16_t, std::string> target;  // a number, or a container port name

  bool operator==(const ServicePort&) const = default;
};

// spec.trafficDistribution. It asks the EndpointSlice controller for hints;
// kube-proxy reads only the hints. socklb uses it where it plays that
// controller (endpoints from selected Pods).
enum class TrafficDistribution {
  Default,         // unset: no preference
  PreferSameZone,  // also its older name, PreferClose
  PreferSameNode,
};

struct Service {
  ObjectMeta meta;
  bool external_name = false;    // type: ExternalName
  bool headless = false;         // clusterIP: None
  std::vector<IpAddress> cluster_ips;  // one per family, primary first
  std::vector<ServicePort> ports;
  std::optional<Labels> selector;
  std::optional<uint32_t> affinity_timeout_sec;  // set when sessionAffinity: ClientIP
  bool internal_traffic_local = false;
  TrafficDistribution traffic_distribution = TrafficDistribution::Default;
  bool publish_not_ready = false;

  bool operator==(const Service&) const = default;
};

struct EndpointConditions {
  bool ready = true;  // absent means true
  bool serving = true;
  bool terminating = false;

  bool operator==(const EndpointConditions&) const = default;
};

// A list of names that may be absent, behind one pointer: topology hints are
// rare, and two empty std::optional<std::vector> in each of a million
// endpoints (100,000 services) held 64 MB.
class OptionalNames {
 public:
  using Names = std::vector<std::string>;

  OptionalNames() = default;
  OptionalNames(std::optional<Names> names)  // NOLINT: as assignable as the optional it replaces
      : names_(names ? std::make_unique<Names>(std::move(*names)) : nullptr) {}
  OptionalNames(const OptionalNames& other) : names_(other.names_ ? std::make_unique<Names>(*other.names_) : nullptr) {}
  OptionalNames(OptionalNames&&) noexcept = default;
  OptionalNames& operator=(OptionalNames other) noexcept {
    names_ = std::move(other.names_);
    return *this;
  }

  explicit operator bool() const { return names_ != nullptr; }
  const Names& operator*() const { return *names_; }
  std::optional<Names> optional() const { return names_ ? std::optional<Names>(*names_) : std::nullopt; }

  bool operator==(const OptionalNames& other) const {
    return names_ ? other.names_ && *names_ == *other.names_ : !other.names_;
  }
  bool operator==(const Names& names) const { return names_ && *names_ == names; }

 private:
  std::unique_ptr<Names> names_;
};

struct SliceEndpoint {
  IpAddress address;  // kube-proxy uses the first address only
  EndpointConditions conditions;
  std::string node_name;
  std::string zone;
  OptionalNames hint_zones;  // hints.forZones
  OptionalNames hint_nodes;  // hints.forNodes (Kubernetes 1.33+)

  bool operator==(const SliceEndpoint&) const = default;
};

struct EndpointPort {
  std::string name;
  Protocol protocol = Protocol::TCP;
  uint16_t port = 0;

  bool operator==(const EndpointPort&) const = default;
};

struct EndpointSlice {
  ObjectMeta meta;
  std::string service_name;  // label kubernetes.io/service-name
  Family family = Family::V4;
  // addressType FQDN: kube-proxy ignores such a slice, and so does socklb.
  // It is kept (without endpoints or ports) so that it still counts as
  // present when its file later stops parsing.
  bool fqdn = false;
  std::vector<SliceEndpoint> endpoints;
  std::vector<EndpointPort> ports;

  bool operator==(const EndpointSlice&) const = default;
};

// core/v1 Endpoints: each subset means every address times every port.
struct EndpointsSubset {
  std::vector<SliceEndpoint> addresses;  // ready ones and notReadyAddresses, conditions set
  std::vector<EndpointPort> ports;

  bool operator==(const EndpointsSubset&) const = default;
};

struct Endpoints {
  ObjectMeta meta;
  std::vector<EndpointsSubset> subsets;

  bool operator==(const Endpoints&) const = default;
};

// A Pod's containerPort: name, protocol and number, like a slice port.
using ContainerPort = EndpointPort;

struct Pod {
  ObjectMeta meta;
  std::vector<IpAddress> ips;  // status.podIPs, or status.podIP
  bool ready = false;          // condition Ready is True
  bool finished = false;       // phase Succeeded or Failed
  std::string node_name;
  std::vector<ContainerPort> ports;  // containers', then sidecars' (FindPort's search order)

  bool operator==(const Pod&) const = default;
};

// An object that failed validation: what is known of it decides which
// services keep their previous state in the kernel.
struct BrokenObject {
  std::string kind;
  std::optional<std::string> ns;
  std::optional<std::string> name;
  std::optional<Labels> labels;

  bool operator==(const BrokenObject&) const = default;
};

}  // namespace socklb
