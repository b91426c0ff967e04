#include "store/object_store.h"

#include <algorithm>


namespace socklb {
namespace {

constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";

// One origin may hold several objects under one service (its slices):
// only this one goes.
template <typename T>
void erase_instance(std::vector<Instance<T>>& from, Origin origin, const T* object) {
  std::erase_if(from, [&](const Instance<T>& i) { return i.origin == origin && i.object.get() == object; });
}

template <typename Map>
const typename Map::mapped_type& find_or_empty(const Map& map, const typename Map::key_type& key) {
  static const typename Map::mapped_type kEmpty{};
  auto it = map.find(key);
  return it == map.end() ? kEmpty : it->second;
}

}  // namespace

void ObjectStore::apply(const SourceUpdate& update) {
  for (const auto& event : update.events) {
    if (event.type == ObjectEvent::Type::Upsert) upsert(event.origin, event.id, event.object);
    else remove(event.origin, event.id);
  }
  for (const auto& [origin, broken] : update.broken) set_broken(origin, broken);
  if (update.hold_everything && *update.hold_everything != hold_everything_) {
    hold_everything_ = *update.hold_everything;
    // removals held back (or now allowed) may concern any service
    auto all = all_refs();
    dirty_.insert(all.begin(), all.end());
  }
}

void ObjectStore::upsert(Origin origin, const ObjectId& id, const ObjectPtr& object) {
  auto& versions = objects_by_id_[id];
  auto it = std::find_if(versions.begin(), versions.end(), [&](const auto& v) { return v.first == origin; });
  if (it != versions.end()) {
    if (same_content(it->second, object)) {
      // the same object (a file rewritten around it, or moved in it): the
      // new version takes its place, for messages, and nothing is dirty
      repoint(origin, it->second, object);
      it->second = object;
      return;
    }
    // the old version's service, labels, selector matches may differ from the new one's
    touch(it->second);
    unindex(origin, it->second);
    it->second = object;
  } else {
    versions.emplace_back(origin, object);
  }
  index(origin, object);
  touch(object);
}

void ObjectStore::remove(Origin origin, const ObjectId& id) {
  auto found = objects_by_id_.find(id);
  if (found == objects_by_id_.end()) return;
  auto& versions = found->second;
  auto it = std::find_if(versions.begin(), versions.end(), [&](const auto& v) { return v.first == origin; });
  if (it == versions.end()) return;
  touch(it->second);
  unindex(origin, it->second);
  versions.erase(it);
  if (versions.empty()) objects_by_id_.erase(found);
}

void ObjectStore::index(Origin origin, const ObjectPtr& object) {
  std::visit(
      [&](const auto& p) {
        using T = std::remove_const_t<typename std::decay_t<decltype(p)>::element_type>;
        if constexpr (std::is_same_v<T, Service>) {
          services_[{p->meta.ns, p->meta.name}].push_back({origin, p});
          for (const auto& ip : p->cluster_ips)
            if (cluster_ips_[ip]++ == 0) changed_cluster_ips_.insert(ip);
        }
        else if constexpr (std::is_same_v<T, EndpointSlice>) slices_[{p->meta.ns, p->service_name}].push_back({origin, p});
        else if constexpr (std::is_same_v<T, Endpoints>) endpoints_[{p->meta.ns, p->meta.name}].push_back({origin, p});
        else pods_[p->meta.ns][{p->meta.name, origin}] = p;
      },
      object);
}

void ObjectStore::repoint(Origin origin, const ObjectPtr& from, const ObjectPtr& to) {
  auto swap_in = [&](auto& by_ref, const ServiceRef& ref, const auto& old_ptr, const auto& new_ptr) {
    auto it = by_ref.find(ref);
    if (it == by_ref.end()) return;
    for (auto& instance : it->second)
      if (instance.origin == origin && instance.object == old_ptr) instance.object = new_ptr;
  };
  std::visit(
      [&](const auto& p) {
        using Ptr = std::decay_t<decltype(p)>;
        using T = std::remove_const_t<typename Ptr::element_type>;
        const Ptr& q = std::get<Ptr>(to);
        if constexpr (std::is_same_v<T, Service>) swap_in(services_, {p->meta.ns, p->meta.name}, p, q);
        else if constexpr (std::is_same_v<T, EndpointSlice>) swap_in(slices_, {p->meta.ns, p->service_name}, p, q);
        else if constexpr (std::is_same_v<T, Endpoints>) swap_in(endpoints_, {p->meta.ns, p->meta.name}, p, q);
        else {
          auto ns = pods_.find(p->meta.ns);
          if (ns == pods_.end()) return;
          if (auto pod = ns->second.find({p->meta.name, origin}); pod != ns->second.end()) pod->second = q;
        }
      },
      from);
}

void ObjectStore::unindex(Origin origin, const ObjectPtr& object) {
  auto drop = [&](auto& by_ref, const ServiceRef& ref, const auto* object) {
    auto it = by_ref.find(ref);
    if (it == by_ref.end()) return;
    erase_instance(it->second, origin, object);
    if (it->second.empty()) by_ref.erase(it);
  };
  std::visit(
      [&](const auto& p) {
        using T = std::remove_const_t<typename std::decay_t<decltype(p)>::element_type>;
        if constexpr (std::is_same_v<T, Service>) {
          drop(services_, {p->meta.ns, p->meta.name}, p.get());
          for (const auto& ip : p->cluster_ips) {
            auto it = cluster_ips_.find(ip);
            if (it == cluster_ips_.end() || --it->second > 0) continue;
            cluster_ips_.erase(it);
            changed_cluster_ips_.insert(ip);
          }
        }
        else if constexpr (std::is_same_v<T, EndpointSlice>) drop(slices_, {p->meta.ns, p->service_name}, p.get());
        else if constexpr (std::is_same_v<T, Endpoints>) drop(endpoints_, {p->meta.ns, p->meta.name}, p.get());
        else {
          auto ns = pods_.find(p->meta.ns);
          if (ns == pods_.end()) return;
          ns->second.erase({p->meta.name, origin});
          if (ns->second.empty()) pods_.erase(ns);
        }
      },
      object);
}

void ObjectStore::touch(const ObjectPtr& object) {
  std::visit(
      [&](const auto& p) {
        using T = std::remove_const_t<typename std::decay_t<decltype(p)>::element_type>;
        if constexpr (std::is_same_v<T, Service>) dirty_.insert({p->meta.ns, p->meta.name});
        else if constexpr (std::is_same_v<T, EndpointSlice>) dirty_.insert({p->meta.ns, p->service_name});
        else if constexpr (std::is_same_v<T, Endpoints>) dirty_.insert({p->meta.ns, p->meta.name});
        else touch_selecting(p->meta.ns, &p->meta.labels);
      },
      object);
}

// A pod concerns the services of its namespace whose selector picks it.
void ObjectStore::touch_selecting(const std::string& ns, const Labels* labels) {
  for (auto it = services_.lower_bound({ns, ""}); it != services_.end() && it->first.ns == ns; ++it)
    for (const auto& instance : it->second) {
      const auto& selector = instance.object->selector;
      if (selector && !selector->empty() && (!labels || selector_matches(*selector, *labels))) {
        dirty_.insert(it->first);
        break;
      }
    }
}

void ObjectStore::touch(const BrokenObject& broken) {
  if (!broken.ns) {  // not even its namespace is known: anything may be concerned
    auto all = all_refs();
    dirty_.insert(all.begin(), all.end());
    return;
  }
  if (broken.kind == "Service" || broken.kind == "Endpoints") {
    if (broken.name) {
      dirty_.insert({*broken.ns, *broken.name});
      return;
    }
  } else if (broken.kind == "EndpointSlice" && broken.labels) {
    if (auto it = broken.labels->find(kServiceNameLabel); it != broken.labels->end())
      dirty_.insert({*broken.ns, it->second});
    return;
  } else if (broken.kind == "Pod") {
    touch_selecting(*broken.ns, broken.labels ? &*broken.labels : nullptr);
    return;
  }
  // a namespace-wide hold
  for (auto it = services_.lower_bound({*broken.ns, ""}); it != services_.end() && it->first.ns == *broken.ns; ++it)
    dirty_.insert(it->first);
}

void ObjectStore::set_broken(Origin origin, std::vector<BrokenObject> broken) {
  auto& mine = broken_[origin];
  if (mine == broken) return;
  for (const auto& b : mine) touch(b);
  for (const auto& b : broken) touch(b);
  mine = std::move(broken);
  if (mine.empty()) broken_.erase(origin);
}

bool ObjectStore::input_broken(const ServiceRef& ref) const {
  for (const auto& [origin, list] : broken_) {
    for (const auto& b : list) {
      // not even its namespace is known: hold_everything() keeps every
      // service from removal, and valid ones are still updated
      if (!b.ns || *b.ns != ref.ns) continue;
      if (b.kind == "Service" || b.kind == "Endpoints") {
        if (!b.name || *b.name == ref.name) return true;
      } else if (b.kind == "EndpointSlice") {
        if (!b.labels) return true;
        if (auto it = b.labels->find(kServiceNameLabel); it != b.labels->end() && it->second == ref.name) return true;
      } else if (b.kind == "Pod") {
        // the services whose selector would have picked this pod
        for (const auto& instance : services(ref)) {
          const auto& selector = instance.object->selector;
          if (selector && !selector->empty() && (!b.labels || selector_matches(*selector, *b.labels))) return true;
        }
      }
    }
  }
  return false;
}

bool ObjectStore::hold_everything() const {
  if (hold_everything_) return true;
  for (const auto& [origin, list] : broken_)
    for (const auto& b : list)
      if (!b.ns) return true;
  return false;
}

void ObjectStore::mark_all_dirty() {
  auto all = all_refs();
  dirty_.insert(all.begin(), all.end());
}

std::set<ServiceRef> ObjectStore::take_dirty() { return std::exchange(dirty_, {}); }

std::set<ServiceRef> ObjectStore::all_refs() const {
  std::set<ServiceRef> out;
  for (const auto& [ref, _] : services_) out.insert(ref);
  for (const auto& [ref, _] : slices_) out.insert(ref);
  for (const auto& [ref, _] : endpoints_) out.insert(ref);
  return out;
}

const std::vector<Instance<Service>>& ObjectStore::services(const ServiceRef& ref) const {
  return find_or_empty(services_, ref);
}
const std::vector<Instance<EndpointSlice>>& ObjectStore::slices(const ServiceRef& ref) const {
  return find_or_empty(slices_, ref);
}
const std::vector<Instance<Endpoints>>& ObjectStore::endpoints(const ServiceRef& ref) const {
  return find_or_empty(endpoints_, ref);
}
const ObjectStore::Pods& ObjectStore::pods(const std::string& ns) const { return find_or_empty(pods_, ns); }

}  // namespace socklb
