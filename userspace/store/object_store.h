#pragma once
// Every object the sources reported, by kind/namespace/name and origin, with
// the indexes that say which services an event can change. Applying an
// event marks those services dirty; reconcile then looks at those only, so a
// change costs what it touches.

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/service.h"
#include "sources/object_event.h"

namespace socklb {

template <typename T>
struct Instance {
  Origin origin;
  std::shared_ptr<const T> object;
};

class ObjectStore {
 public:
  // Applies a source's batch. What it can change is added to the dirty set.
  void apply(const SourceUpdate& update);

  // The services to reconcile since the last call, and forgets them.
  std::set<ServiceRef> take_dirty();
  // Every service any object names: what a full reconcile covers.
  std::set<ServiceRef> all_refs() const;
  void mark_all_dirty();

  // What reconcile reads. Each may hold several instances: one per origin.
  const std::vector<Instance<Service>>& services(const ServiceRef& ref) const;
  const std::vector<Instance<EndpointSlice>>& slices(const ServiceRef& ref) const;  // by kubernetes.io/service-name
  const std::vector<Instance<Endpoints>>& endpoints(const ServiceRef& ref) const;
  // The pods of a namespace, by name and origin.
  using Pods = std::map<std::pair<std::string, Origin>, std::shared_ptr<const Pod>>;
  const Pods& pods(const std::string& ns) const;

  // Broken input that concerns this service: it keeps what it served.
  bool input_broken(const ServiceRef& ref) const;
  // No service may be removed: some input cannot be read, or an object is
  // broken so badly that not even its namespace is known.
  bool hold_everything() const;

  // A ClusterIP of some Service in the store (valid or not served).
  bool is_cluster_ip(const IpAddress& ip) const { return cluster_ips_.count(ip) > 0; }
  // ClusterIPs that appeared or went since the last call, and forgets them:
  // a backend at such an address is dropped or allowed again.
  std::set<IpAddress> take_changed_cluster_ips() { return std::exchange(changed_cluster_ips_, {}); }

 private:
  template <typename T>
  using ByRef = std::map<ServiceRef, std::vector<Instance<T>>>;

  void upsert(Origin origin, const ObjectId& id, const ObjectPtr& object);
  void remove(Origin origin, const ObjectId& id);
  void index(Origin origin, const ObjectPtr& object);    // into the by-service/namespace indexes
  void unindex(Origin origin, const ObjectPtr& object);
  void repoint(Origin origin, const ObjectPtr& from, const ObjectPtr& to);  // same content, new version
  void set_broken(Origin origin, std::vector<BrokenObject> broken);
  void touch(const ObjectPtr& object);     // marks what one version of an object concerns
  void touch(const BrokenObject& broken);  // and what a broken one holds
  void touch_selecting(const std::string& ns, const Labels* labels);  // services whose selector picks such a pod

  // every version the origins hold, by id: what a delete or a new version replaces
  std::map<ObjectId, std::vector<std::pair<Origin, ObjectPtr>>> objects_by_id_;
  ByRef<Service> services_;
  ByRef<EndpointSlice> slices_;
  ByRef<Endpoints> endpoints_;
  std::map<std::string, Pods> pods_;
  std::map<Origin, std::vector<BrokenObject>> broken_;
  bool hold_everything_ = false;
  std::map<IpAddress, uint32_t> cluster_ips_;  // -> how many Services list it
  std::set<IpAddress> changed_cluster_ips_;
  std::set<ServiceRef> dirty_;
};

}  // namespace socklb
