#include "desired/reconcile.h"

#include <algorithm>
#include <set>
#include <utility>

#include "desired/endpoint_index.h"
#include "sources/object_event.h"

namespace socklb {
namespace {

constexpr const char* kProxyNameLabel = "service.kubernetes.io/service-proxy-name";
constexpr const char* kHeadlessLabel = "service.kubernetes.io/headless";

// Every endpoint the service lists, each address:port once (the first listing
// wins, as in kube-proxy), with what it may be used for: the usable ones as
// usable_backends() chose them, the rest Serving or Listed. The ones new
// connects cannot use still matter to connections that already use them.
std::vector<Backend> with_states(const std::vector<Candidate>& candidates, std::vector<Backend> usable) {
  std::set<std::pair<IpAddress, uint16_t>> seen;
  for (const auto& b : usable) seen.insert({b.ip, b.port});
  std::vector<Backend> out = std::move(usable);
  for (const auto& c : candidates) {
    if (!seen.insert({c.ip, c.port}).second) continue;
    out.push_back({c.ip, c.port, c.conditions.serving ? BackendState::Serving : BackendState::Listed});
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::set<ServiceKey> Reconciler::update(ObjectStore& store, const ServingNow& serving, const std::set<ServiceRef>& also) {
  desired_.diagnostics.clear();
  desired_.hold_everything = store.hold_everything();
  std::set<ServiceRef> todo = store.take_dirty();
  todo.insert(also.begin(), also.end());
  // A ClusterIP outside the service CIDRs came or went: a backend at it is
  // dropped or allowed again, in any service (inside them it is dropped
  // anyway). Only a misconfigured service has one, so this is rare.
  for (const auto& ip : store.take_changed_cluster_ips()) {
    if (in_service_cidrs(ip)) continue;
    auto all = store.all_refs();
    todo.insert(all.begin(), all.end());
    for (const auto& [ref, _] : claims_of_) todo.insert(ref);
    break;
  }
  // Held for broken input that is no longer broken (a namespace-wide hold
  // lifted, for a service with no object left): looked at again.
  for (const auto& ref : desired_.held)
    if (!lost_conflict_.count(ref) && !store.input_broken(ref)) todo.insert(ref);

  std::set<ServiceKey> changed;
  std::set<ServiceRef> done;
  std::map<ServiceRef, Built> built;
  auto pull_in_claimants = [&](const ServiceKey& key) {
    if (auto it = claimants_.find(key); it != claimants_.end())
      for (const auto& other : it->second)
        if (!done.count(other)) todo.insert(other);
  };
  // Rebuild each service to look at, and with it every other claimant of a
  // key it claimed or claims now: conflicts are settled between them.
  while (!todo.empty()) {
    ServiceRef ref = std::move(todo.extract(todo.begin()).value());
    if (!done.insert(ref).second) continue;
    if (auto it = claims_of_.find(ref); it != claims_of_.end()) {
      for (const auto& key : it->second) {
        pull_in_claimants(key);
        auto& refs = claimants_[key];
        std::erase(refs, ref);
        if (refs.empty()) claimants_.erase(key);
      }
      claims_of_.erase(it);
    }
    // What it served (or serves held) is planned again, whatever it becomes.
    if (auto it = published_.find(ref); it != published_.end()) {
      for (const auto& key : it->second) {
        changed.insert(key);
        auto published = desired_.services.find(key);
        if (published != desired_.services.end() && published->second.ref == ref) desired_.services.erase(published);
      }
    }
    if (auto waiting = waiting_for_.extract(ref)) todo.insert(waiting.mapped().begin(), waiting.mapped().end());
    desired_.held.erase(ref);
    lost_conflict_.erase(ref);

    Built b = build(store, ref, serving);
    if (b.claims) {
      auto& keys = claims_of_[ref];
      for (const auto& [key, _] : *b.claims) {
        pull_in_claimants(key);
        claimants_[key].push_back(ref);
        keys.push_back(key);
      }
    }
    built.emplace(ref, std::move(b));
  }

  // Two services on one ClusterIP:port/protocol cannot both be served. The
  // one serving it now keeps it; when neither is, neither gets it.
  for (auto& [ref, b] : built) {
    if (!b.claims) continue;
    std::string why;
    std::optional<ServiceRef> waits_for;
    for (const auto& [key, _] : *b.claims) {
      const auto& refs = claimants_.at(key);
      auto owner = serving.owner(key);
      if (refs.size() == 1) {
        // the kernel owner is not defined validly now but is held: it keeps its key
        if (owner && *owner != ref && !claims_of_.count(*owner) &&
            (desired_.hold_everything || (desired_.held.count(*owner) && !lost_conflict_.count(*owner)))) {
          why = key.str() + " is still served for " + owner->str() + ", whose input is broken";
          waits_for = owner;
          break;
        }
        continue;
      }
      if (owner && *owner == ref) continue;
      std::string others;
      for (const auto& other : refs)
        if (other != ref) others += (others.empty() ? "" : ", ") + other.str();
      why = key.str() + " is also defined by " + others;
      break;
    }
    if (!why.empty()) {
      refuse(*store.services(ref).front().object, ref, "spec.ports", why);
      lost_conflict_.insert(ref);
      if (waits_for) waiting_for_[*waits_for].insert(ref);
      continue;
    }
    std::vector<ServiceKey> keys;
    for (auto& [key, service] : *b.claims) {
      desired_.services.insert_or_assign(key, std::move(service));
      changed.insert(key);
      keys.push_back(key);
    }
    published_[ref] = std::move(keys);
  }
  // A held service keeps what it published: the kernel still serves it for
  // it, and it is planned again when the hold ends. The others' are gone.
  for (const auto& ref : done)
    if (!desired_.held.count(ref)) {
      auto it = published_.find(ref);
      if (it == published_.end()) continue;
      bool still = std::any_of(it->second.begin(), it->second.end(), [&](const ServiceKey& key) {
        auto d = desired_.services.find(key);
        return d != desired_.services.end() && d->second.ref == ref;
      });
      if (!still) published_.erase(it);
    }
  return changed;
}

Reconciler::Built Reconciler::build(const ObjectStore& store, const ServiceRef& ref, const ServingNow& serving) {
  bool broken = store.input_broken(ref);
  if (broken) desired_.held.insert(ref);
  const auto& instances = store.services(ref);
  if (instances.empty()) return {};
  const Service& svc = *instances.front().object;
  if (instances.size() > 1) {
    const auto& again = instances[1].object->meta.where;
    refuse(svc, ref, "", "defined twice (again at " + again.file + ":" + std::to_string(again.line) + ")");
    return {};
  }
  if (!proxied_by_us(svc) || broken) return {};
  return {build_service(store, svc, ref, serving)};
}

bool Reconciler::proxied_by_us(const Service& svc) const {
  const auto& labels = svc.meta.labels;
  if (auto it = labels.find(kProxyNameLabel); it != labels.end() && it->second != settings_.proxy_name) return false;
  if (labels.count(kHeadlessLabel) || svc.external_name || svc.headless) return false;
  return true;
}

std::optional<Reconciler::Claims> Reconciler::build_service(const ObjectStore& store, const Service& svc,
                                                            const ServiceRef& ref, const ServingNow& serving) {
  if (svc.cluster_ips.empty()) {
    warn(svc, "spec.clusterIP", "is not set: standalone mode does not allocate ClusterIPs, so this service is not served");
    return std::nullopt;
  }
  Claims claims;
  bool reported = false;
  for (const auto& vip : svc.cluster_ips) {
    if (!in_service_cidrs(vip)) {
      refuse(svc, ref, "spec.clusterIPs",
             vip.str() + " is outside the service CIDRs (" + cidr_list() + "): add --service-cidr if it is meant");
      return std::nullopt;
    }
    for (std::size_t i = 0; i < svc.ports.size(); ++i) {
      const ServicePort& port = svc.ports[i];
      if (port.protocol == Protocol::SCTP) {
        if (vip == svc.cluster_ips.front())
          warn(svc, "spec.ports[" + std::to_string(i) + "]",
               "SCTP is not supported by socklb (TCP and UDP are): port " + std::to_string(port.port) + " is not served");
        continue;
      }
      DesiredService desired;
      desired.ref = ref;
      desired.port_name = port.name;
      desired.where = svc.meta.where;
      desired.affinity_timeout_sec = svc.affinity_timeout_sec.value_or(0);
      auto found = candidates(store, svc, port, vip.family());
      desired.backends = with_states(found, usable_backends(found, svc.internal_traffic_local, settings_.node));
      drop_service_addresses(store, svc, serving, desired.backends, reported);
      claims.emplace(ServiceKey{vip, port.port, port.protocol}, std::move(desired));
    }
  }
  return claims;
}

// A backend that is itself a service address would send a connect from
// one VIP to another (and, with a cycle, around forever in kube-proxy's
// NAT): pod addresses never lie in the service CIDRs, so such an endpoint
// is a mistake. It is left out; the service's other backends serve. One
// error per service, however many such endpoints it lists.
void Reconciler::drop_service_addresses(const ObjectStore& store, const Service& svc, const ServingNow& serving,
                                        std::vector<Backend>& backends, bool& reported) {
  std::vector<std::string> why;
  std::erase_if(backends, [&](const Backend& b) {
    bool is_vip = store.is_cluster_ip(b.ip) || (serving.is_vip && serving.is_vip(b.ip));
    bool in_cidr = in_service_cidrs(b.ip);
    if (is_vip || in_cidr) why.push_back(b.ip.str() + (is_vip ? " is itself a ClusterIP" : " is inside the service CIDRs"));
    return is_vip || in_cidr;
  });
  if (why.empty() || reported) return;
  reported = true;
  std::string list;
  for (std::size_t i = 0; i < why.size() && i < 3; ++i) list += (i ? "; " : "") + why[i];
  if (why.size() > 3) list += "; and " + std::to_string(why.size() - 3) + " more";
  desired_.diagnostics.push_back({Diagnostic::Severity::Error, svc.meta.where, svc.meta.ref(), "endpoints",
                                  "a backend must be a pod address, not a service address (" + cidr_list() + "): " + list +
                                      "; left out (no loops): fix the endpoints' addresses"});
}

void Reconciler::refuse(const Service& svc, const ServiceRef& ref, const std::string& field, const std::string& why) {
  desired_.diagnostics.push_back({Diagnostic::Severity::Error, svc.meta.where, svc.meta.ref(), field,
                                  why + "; the service keeps what it served before"});
  desired_.held.insert(ref);
}

void Reconciler::warn(const Service& svc, const std::string& field, const std::string& why) {
  desired_.diagnostics.push_back({Diagnostic::Severity::Warning, svc.meta.where, svc.meta.ref(), field, why});
}

std::string Reconciler::cidr_list() const {
  std::string out;
  for (const auto& cidr : settings_.service_cidrs) out += (out.empty() ? "" : ", ") + cidr.str();
  return out;
}

bool Reconciler::in_service_cidrs(const IpAddress& ip) const {
  return std::any_of(settings_.service_cidrs.begin(), settings_.service_cidrs.end(),
                     [&](const Cidr& cidr) { return cidr.contains(ip); });
}

std::vector<Cidr> default_service_cidrs() {
  return {*Cidr::parse("10.96.0.0/12"), *Cidr::parse("fd00:10:96::/108")};
}

DesiredState reconcile(const ManifestSet& input, const ReconcileSettings& settings,
                       const std::map<ServiceKey, ServiceRef>& serving_now) {
  ObjectStore store;
  store.apply(upserts_of(input));

  std::set<IpAddress> vips;
  std::set<ServiceRef> served;
  for (const auto& [key, ref] : serving_now) {
    vips.insert(key.vip);
    served.insert(ref);
  }
  ServingNow serving{[&](const ServiceKey& key) -> std::optional<ServiceRef> {
                       auto it = serving_now.find(key);
                       if (it == serving_now.end()) return std::nullopt;
                       return it->second;
                     },
                     [&](const IpAddress& ip) { return vips.count(ip) > 0; }};
  Reconciler reconciler(settings);
  reconciler.update(store, serving, served);
  return reconciler.take_desired();
}

}  // namespace socklb
