#include "desired/reconcile.h"

#include <algorithm>
#include <set>
#include <utility>

#include "desired/endpoint_index.h"

namespace socklb {
namespace {

constexpr const char* kProxyNameLabel = "service.kubernetes.io/service-proxy-name";
constexpr const char* kHeadlessLabel = "service.kubernetes.io/headless";
constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";

using Claims = std::map<ServiceKey, DesiredService>;

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

class Reconciler {
 public:
  Reconciler(const ManifestSet& input, const ReconcileSettings& settings, const std::map<ServiceKey, ServiceRef>& serving_now)
      : input_(input), settings_(settings), serving_now_(serving_now), index_(input) {
    for (const auto& svc : input_.services) vips_.insert(svc.cluster_ips.begin(), svc.cluster_ips.end());
    for (const auto& [key, _] : serving_now_) vips_.insert(key.vip);
  }

  DesiredState run() {
    out_.hold_everything = input_.hold_everything;
    hold_for_broken_objects();
    std::vector<const Service*> services;
    for (const auto& svc : input_.services) services.push_back(&svc);
    std::sort(services.begin(), services.end(), [](const Service* a, const Service* b) {
      return std::tie(a->meta.ns, a->meta.name) < std::tie(b->meta.ns, b->meta.name);
    });
    for (std::size_t i = 0, next = 0; i < services.size(); i = next) {
      const Service& svc = *services[i];
      ServiceRef ref{svc.meta.ns, svc.meta.name};
      next = i + 1;
      while (next < services.size() && services[next]->meta.ns == ref.ns && services[next]->meta.name == ref.name) ++next;
      if (next - i > 1) {
        const auto& again = services[i + 1]->meta.where;
        refuse(svc, ref, "", "defined twice (again at " + again.file + ":" + std::to_string(again.line) + ")");
        continue;
      }
      if (!proxied_by_us(svc) || out_.input_broken(ref)) continue;
      if (auto claims = build(svc, ref)) claims_[ref] = std::move(*claims);
    }
    settle_conflicts();
    for (auto& [ref, claims] : claims_)
      for (auto& [key, desired] : claims) out_.services.emplace(key, std::move(desired));
    return std::move(out_);
  }

 private:
  void hold_for_broken_objects() {
    for (const auto& broken : input_.broken) {
      if (!broken.ns) {
        out_.hold_everything = true;
      } else if (broken.kind == "Service" || broken.kind == "Endpoints") {
        if (broken.name) out_.held.insert({*broken.ns, *broken.name});
        else out_.held_namespaces.insert(*broken.ns);
      } else if (broken.kind == "EndpointSlice") {
        if (!broken.labels) out_.held_namespaces.insert(*broken.ns);
        else if (auto it = broken.labels->find(kServiceNameLabel); it != broken.labels->end())
          out_.held.insert({*broken.ns, it->second});
      } else if (broken.kind == "Pod") {
        // the services whose selector would have picked this pod
        for (const auto& svc : input_.services)
          if (svc.meta.ns == *broken.ns && svc.selector && !svc.selector->empty() &&
              (!broken.labels || selector_matches(*svc.selector, *broken.labels)))
            out_.held.insert({svc.meta.ns, svc.meta.name});
      }
    }
  }

  bool proxied_by_us(const Service& svc) const {
    const auto& labels = svc.meta.labels;
    if (auto it = labels.find(kProxyNameLabel); it != labels.end() && it->second != settings_.proxy_name) return false;
    if (labels.count(kHeadlessLabel) || svc.external_name || svc.headless) return false;
    return true;
  }

  std::optional<Claims> build(const Service& svc, const ServiceRef& ref) {
    if (svc.cluster_ips.empty()) {
      warn(svc, "spec.clusterIP", "is not set: standalone mode does not allocate ClusterIPs, so this service is not served");
      return std::nullopt;
    }
    Claims claims;
    for (const auto& vip : svc.cluster_ips) {
      bool allowed = std::any_of(settings_.service_cidrs.begin(), settings_.service_cidrs.end(),
                                 [&](const Cidr& cidr) { return cidr.contains(vip); });
      if (!allowed) {
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
        auto candidates = index_.candidates(svc, port, vip.family());
        desired.backends = with_states(candidates, usable_backends(candidates, svc.internal_traffic_local, settings_.node));
        drop_service_addresses(svc, desired.backends);
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
  void drop_service_addresses(const Service& svc, std::vector<Backend>& backends) {
    std::vector<std::string> why;
    std::erase_if(backends, [&](const Backend& b) {
      bool is_vip = vips_.count(b.ip) > 0;
      bool in_cidr = std::any_of(settings_.service_cidrs.begin(), settings_.service_cidrs.end(),
                                 [&](const Cidr& cidr) { return cidr.contains(b.ip); });
      if (is_vip || in_cidr) why.push_back(b.ip.str() + (is_vip ? " is itself a ClusterIP" : " is inside the service CIDRs"));
      return is_vip || in_cidr;
    });
    if (why.empty() || !reported_backends_.insert(ServiceRef{svc.meta.ns, svc.meta.name}).second) return;
    std::string list;
    for (std::size_t i = 0; i < why.size() && i < 3; ++i) list += (i ? "; " : "") + why[i];
    if (why.size() > 3) list += "; and " + std::to_string(why.size() - 3) + " more";
    out_.diagnostics.push_back({Diagnostic::Severity::Error, svc.meta.where, svc.meta.ref(), "endpoints",
                                "a backend must be a pod address, not a service address (" + cidr_list() + "): " + list +
                                    "; left out (no loops): fix the endpoints' addresses"});
  }

  // Two services on one ClusterIP:port/protocol cannot both be served. The
  // one serving it now keeps it; when neither is, neither gets it.
  void settle_conflicts() {
    std::map<ServiceKey, std::vector<ServiceRef>> claimants;
    for (const auto& [ref, claims] : claims_)
      for (const auto& [key, _] : claims) claimants[key].push_back(ref);
    std::map<ServiceRef, std::string> losers;
    for (const auto& [key, refs] : claimants) {
      auto owner = serving_now_.find(key);
      bool owner_known = owner != serving_now_.end();
      if (refs.size() == 1) {
        // the kernel owner is not defined validly now but is held: it keeps its key
        if (owner_known && owner->second != refs[0] && !claims_.count(owner->second) && out_.is_held(owner->second))
          losers.emplace(refs[0], key.str() + " is still served for " + owner->second.str() + ", whose input is broken");
        continue;
      }
      for (const auto& ref : refs) {
        if (owner_known && owner->second == ref) continue;
        std::string others;
        for (const auto& other : refs)
          if (other != ref) others += (others.empty() ? "" : ", ") + other.str();
        losers.emplace(ref, key.str() + " is also defined by " + others);
      }
    }
    for (const auto& [ref, why] : losers) {
      auto svc = std::find_if(input_.services.begin(), input_.services.end(),
                              [&](const Service& s) { return s.meta.ns == ref.ns && s.meta.name == ref.name; });
      refuse(*svc, ref, "spec.ports", why);
      claims_.erase(ref);
    }
  }

  void refuse(const Service& svc, const ServiceRef& ref, const std::string& field, const std::string& why) {
    out_.diagnostics.push_back({Diagnostic::Severity::Error, svc.meta.where, svc.meta.ref(), field,
                                why + "; the service keeps what it served before"});
    out_.held.insert(ref);
  }

  void warn(const Service& svc, const std::string& field, const std::string& why) {
    out_.diagnostics.push_back({Diagnostic::Severity::Warning, svc.meta.where, svc.meta.ref(), field, why});
  }

  std::string cidr_list() const {
    std::string out;
    for (const auto& cidr : settings_.service_cidrs) out += (out.empty() ? "" : ", ") + cidr.str();
    return out;
  }

  const ManifestSet& input_;
  const ReconcileSettings& settings_;
  const std::map<ServiceKey, ServiceRef>& serving_now_;
  EndpointIndex index_;
  std::map<ServiceRef, Claims> claims_;
  std::set<IpAddress> vips_;  // every ClusterIP in the input or in the kernel
  std::set<ServiceRef> reported_backends_;
  DesiredState out_;
};

}  // namespace

std::vector<Cidr> default_service_cidrs() {
  return {*Cidr::parse("10.96.0.0/12"), *Cidr::parse("fd00:10:96::/108")};
}

DesiredState reconcile(const ManifestSet& input, const ReconcileSettings& settings,
                       const std::map<ServiceKey, ServiceRef>& serving_now) {
  return Reconciler(input, settings, serving_now).run();
}

}  // namespace socklb
