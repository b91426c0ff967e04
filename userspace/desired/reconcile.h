#pragma once
// Objects -> desired state. Pure: no kernel, no files.
//
// The Reconciler keeps the desired state of every service and rebuilds only
// the services an event can change (the store's dirty set), so a change
// costs what it touches. reconcile() is the same rebuild with every service
// dirty: what a from-scratch sync computes, and what the tests compare the
// incremental path with.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "desired/backend_policy.h"
#include "desired/service_table.h"
#include "manifests/manifest_set.h"
#include "store/object_store.h"

namespace socklb {

struct ReconcileSettings {
  NodeIdentity node;
  // ClusterIPs must fall inside these, so the agent cannot be used to
  // redirect arbitrary destinations.
  std::vector<Cidr> service_cidrs;
  // Services labelled service.kubernetes.io/service-proxy-name with another
  // value belong to another proxy.
  std::string proxy_name = "socklb";
};

std::vector<Cidr> default_service_cidrs();  // 10.96.0.0/12 and fd00:10:96::/108

// What the kernel serves now. A conflict between two services is settled in
// favour of the one serving the ClusterIP:port.
struct ServingNow {
  std::function<std::optional<ServiceRef>(const ServiceKey&)> owner;
  // A ClusterIP the kernel serves: a backend at it would loop.
  std::function<bool(const IpAddress&)> is_vip;
};

class Reconciler {
 public:
  explicit Reconciler(ReconcileSettings settings) : settings_(std::move(settings)) {}

  // Rebuilds the services the store marked dirty, and `also`, and the ones
  // sharing a ClusterIP:port with them. Returns the keys whose desired entry
  // may have changed; desired().diagnostics holds this update's messages.
  // The first update after a start passes the services the kernel serves in
  // `also`: one whose objects are gone may be held by broken input.
  std::set<ServiceKey> update(ObjectStore& store, const ServingNow& serving, const std::set<ServiceRef>& also = {});

  const DesiredState& desired() const { return desired_; }
  DesiredState take_desired() { return std::move(desired_); }

 private:
  using Claims = std::map<ServiceKey, DesiredService>;
  struct Built {
    std::optional<Claims> claims;  // none: not served, or refused
  };

  Built build(const ObjectStore& store, const ServiceRef& ref, const ServingNow& serving);
  std::optional<Claims> build_service(const ObjectStore& store, const Service& svc, const ServiceRef& ref,
                                      const ServingNow& serving);
  void drop_service_addresses(const ObjectStore& store, const Service& svc, const ServingNow& serving,
                              std::vector<Backend>& backends, bool& reported);
  bool proxied_by_us(const Service& svc) const;
  void refuse(const Service& svc, const ServiceRef& ref, const std::string& field, const std::string& why);
  void warn(const Service& svc, const std::string& field, const std::string& why);
  std::string cidr_list() const;
  bool in_service_cidrs(const IpAddress& ip) const;

  ReconcileSettings settings_;
  DesiredState desired_;
  // What each service built claims, whether or not it won them, and who
  // claims each key: conflicts are settled between these.
  std::map<ServiceRef, std::vector<ServiceKey>> claims_of_;
  std::map<ServiceKey, std::vector<ServiceRef>> claimants_;
  // Services that lost a key to a held kernel owner, by that owner: they
  // are looked at again when the owner changes.
  std::map<ServiceRef, std::set<ServiceRef>> waiting_for_;
  std::set<ServiceRef> lost_conflict_;  // held only because of a conflict
  // The keys each service was last published with: planned again whenever
  // it is rebuilt (also those a hold kept in the kernel).
  std::map<ServiceRef, std::vector<ServiceKey>> published_;
};

// Every service of `input` from scratch. serving_now: who owns each
// ClusterIP:port/protocol in the kernel now.
DesiredState reconcile(const ManifestSet& input, const ReconcileSettings& settings,
                       const std::map<ServiceKey, ServiceRef>& serving_now);

}  // namespace socklb
