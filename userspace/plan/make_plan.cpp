#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "plan/id_allocator.h"
#include "plan/plan.h"
#include "plan/plan_builder.h"

namespace socklb {
namespace {

constexpr std::size_t kMaxBackendsPerService = 65535;  // slot index and count are 16-bit

// A backend entry that stays or is made: its SHARED flag is only known once
// every service has been planned.
struct LiveBackend {
  uint32_t id;
  uint32_t service_id;
  Backend backend;
  Protocol protocol;
};

// An endpoint of a service served after the plan, for the reverse map.
struct ServedEndpoint {
  ReverseKey endpoint;
  ServiceKey service;
};

class Planner {
 public:
  // scope: the keys to plan, or null for all of them.
  Planner(const DesiredState& desired, const KernelState& kernel, const PlanLimits& limits,
          const std::set<ServiceKey>* scope, EndpointListing* listing)
      : desired_(desired), kernel_(kernel), limits_(limits), scope_(scope), listing_(listing) {
    if (scope_) {
      // ask the carried maps rather than list every id in use
      std::set<uint32_t> service_quarantine(limits.quarantined_service_ids.begin(), limits.quarantined_service_ids.end());
      std::set<uint32_t> backend_quarantine(limits.quarantined_backend_ids.begin(), limits.quarantined_backend_ids.end());
      auto highest = [](const auto& map, const std::set<uint32_t>& quarantined) {
        uint32_t top = map.empty() ? 0 : map.rbegin()->first;
        return quarantined.empty() ? top : std::max(top, *quarantined.rbegin());
      };
      service_ids_.emplace(
          [this, q = std::move(service_quarantine)](uint32_t id) {
            return kernel_.states.count(id) || kernel_.names.count(id) || q.count(id) ||
                   kernel_.backends_by_service.count(id);
          },
          kernel.states.size() + limits.quarantined_service_ids.size(), highest(kernel.states, service_quarantine),
          limits.of(MapId::ServiceState));
      backend_ids_.emplace([this, q = std::move(backend_quarantine)](uint32_t id) { return kernel_.backends.count(id) || q.count(id); },
                           kernel.backends.size() + limits.quarantined_backend_ids.size(),
                           highest(kernel.backends, backend_quarantine), limits.of(MapId::Backends));
    } else {
      service_ids_.emplace(used_service_ids(kernel, limits), limits.of(MapId::ServiceState));
      backend_ids_.emplace(used_backend_ids(kernel, limits), limits.of(MapId::Backends));
    }
    for (const auto& m : kMaps) peak(m.id) = kernel.count(m.id);
  }

  Plan run() {
    if (!scope_) {
      reserve_for_empty_maps();
      for (const auto& [key, id] : kernel_.services)
        if (!desired_.services.count(key)) gone(key, id);
      for (const auto& [key, service] : desired_.services) upsert(key, service);
    } else {
      for (const auto& key : *scope_)
        if (auto it = kernel_.services.find(key); it != kernel_.services.end() && !desired_.services.count(key))
          gone(key, it->second);
      for (const auto& key : *scope_)
        if (auto it = desired_.services.find(key); it != desired_.services.end()) upsert(key, it->second);
    }
    plan_endpoints();
    write_backends();
    collect_garbage();
    if (!scope_) {
      plan_.summary.services = live_services_.size();
      plan_.summary.backends = live_backends_.size();
    } else {
      plan_.summary.services = kernel_.services.size() + plan_.summary.added - plan_.summary.removed;
      plan_.summary.backends = kernel_.backends.size() + new_backend_ids_ - plan_.released_backend_ids.size();
    }
    return builder_.finish(std::move(plan_));
  }

 private:
  uint64_t& peak(MapId map) { return peak_[static_cast<std::size_t>(map)]; }

  // Into maps that hold nothing (a first install) every service is written:
  // room for all of it at once (PlanBuilder::reserve_writes says why).
  void reserve_for_empty_maps() {
    if (!kernel_.states.empty()) return;
    std::size_t services = desired_.services.size(), backends = 0, slots = 0;
    for (const auto& [_, service] : desired_.services) {
      std::size_t n = service.backends.size();
      backends += n;
      // a small service's live set is in its state entry; a too large one is refused
      if (n <= kMaxBackendsPerService && !backends_inline(static_cast<uint16_t>(n))) slots += n;
    }
    builder_.reserve_writes(MapId::ServiceState, services);
    builder_.reserve_writes(MapId::ServiceNames, services);
    if (kernel_.slots.empty()) builder_.reserve_writes(MapId::Slots, slots);
    live_backends_.reserve(backends);
    served_.reserve(backends);
  }

  static std::vector<uint32_t> used_service_ids(const KernelState& k, const PlanLimits& limits) {
    std::vector<uint32_t> ids = limits.quarantined_service_ids;
    for (const auto& [id, _] : k.states) ids.push_back(id);
    for (const auto& [_, id] : k.services) ids.push_back(id);
    for (const auto& [id, _] : k.names) ids.push_back(id);
    for (const auto& [slot, _] : k.slots)
      if (ids.empty() || ids.back() != slot.service_id) ids.push_back(slot.service_id);
    return ids;
  }

  static std::vector<uint32_t> used_backend_ids(const KernelState& k, const PlanLimits& limits) {
    std::vector<uint32_t> ids = limits.quarantined_backend_ids;
    ids.reserve(ids.size() + k.backends.size() + k.slots.size());
    for (const auto& [id, _] : k.backends) ids.push_back(id);
    for (const auto& [_, id] : k.slots) ids.push_back(id);
    return ids;
  }

  // ---- services ----

  // A key the kernel serves that is not desired now.
  void gone(const ServiceKey& key, uint32_t id) {
    if (desired_.is_held(kernel_.owner(id))) {
      keep(key, id);
      ++plan_.summary.held;
    } else {
      remove(key, id);
    }
  }

  void remove(const ServiceKey& key, uint32_t id) {
    builder_.remove(service_key_of(key));
    if (auto state = kernel_.states.find(id); state != kernel_.states.end() && (state->second.flags & SOCKLB_SERVICE_AFFINITY))
      plan_.purge_affinity.push_back(id);
    ++plan_.summary.removed;
    note_change('-', kernel_owner_label(id), key);
  }

  // A service the kernel keeps serving as it is: everything it uses is live.
  void keep(const ServiceKey& key, uint32_t id) {
    const socklb_service_state* state = kernel_.served(key);
    mark_live_service(key, id);
    if (state && !backends_inline(state->backend_count)) mark_live_slots(id, state->revision, state->backend_count);
    for (uint32_t backend_id : backend_ids_of(id)) {
      Backend backend = decode_backend(kernel_.backends.at(backend_id));
      live_backends_.push_back({backend_id, id, backend, key.protocol});
      served_.push_back({{backend.ip, backend.port, key.protocol}, key});
    }
  }

  const std::vector<uint32_t>& backend_ids_of(uint32_t service_id) const {
    static const std::vector<uint32_t> kNone;
    auto it = kernel_.backends_by_service.find(service_id);
    return it == kernel_.backends_by_service.end() ? kNone : it->second;
  }

  void refuse(const ServiceKey& key, const DesiredService& service, const std::string& why) {
    plan_.diagnostics.push_back({Diagnostic::Severity::Error, service.where, "Service " + service.ref.str(), key.str(),
                                 why + "; the service keeps what it served before"});
    if (auto it = kernel_.services.find(key); it != kernel_.services.end()) keep(key, it->second);
    ++plan_.summary.held;
  }

  // What adding this service costs at the peak of the plan, before the
  // removals after the barrier free anything.
  struct Cost {
    uint32_t services = 0, state_ids = 0, names = 0, vips = 0, slots = 0, backend_ids = 0;
  };

  bool fits(const ServiceKey& key, const Cost& cost, std::string& why) {
    MapId services = key.vip.is_v4() ? MapId::ServicesV4 : MapId::ServicesV6;
    MapId addrs = key.vip.is_v4() ? MapId::AddrsV4 : MapId::AddrsV6;
    auto check = [&](MapId map, uint64_t now, uint32_t add, uint64_t capacity) {
      if (add == 0 || now + add <= capacity) return true;
      const auto& m = describe(map);
      why = "the " + std::string(m.name) + " map is full (" + std::to_string(capacity) + " entries): raise " +
            std::string(m.capacity_flag);
      return false;
    };
    return check(services, peak(services), cost.services, limits_.of(services)) &&
           check(MapId::ServiceState, 0, cost.state_ids, cost.state_ids ? service_ids_->available() : 0) &&
           check(addrs, peak(addrs), cost.vips, limits_.of(addrs)) &&
           check(MapId::ServiceNames, peak(MapId::ServiceNames), cost.names, limits_.of(MapId::ServiceNames)) &&
           check(MapId::Backends, 0, cost.backend_ids, cost.backend_ids ? backend_ids_->available() : 0) &&
           check(MapId::Slots, peak(MapId::Slots), cost.slots, limits_.of(MapId::Slots));
  }

  void spend(const ServiceKey& key, const Cost& cost) {
    peak(key.vip.is_v4() ? MapId::ServicesV4 : MapId::ServicesV6) += cost.services;
    peak(key.vip.is_v4() ? MapId::AddrsV4 : MapId::AddrsV6) += cost.vips;
    peak(MapId::ServiceNames) += cost.names;
    peak(MapId::Slots) += cost.slots;
  }

  void upsert(const ServiceKey& key, const DesiredService& service) {
    auto hashed = kernel_.services.find(key);
    bool known_key = hashed != kernel_.services.end();
    const socklb_service_state* old = kernel_.served(key);
    std::size_t usable = std::count_if(service.backends.begin(), service.backends.end(),
                                       [](const Backend& b) { return chosen_for_new_connects(b.state); });
    if (usable > kMaxBackendsPerService) {
      refuse(key, service, "has " + std::to_string(usable) + " backends; at most " +
                               std::to_string(kMaxBackendsPerService) + " per service port are served");
      return;
    }
    uint32_t id = known_key ? hashed->second : 0;

    // An address that already serves this service keeps its backend id; ids
    // of new addresses (0 here) are allocated once the service fits.
    std::vector<uint32_t> ids(service.backends.size(), 0);
    std::vector<uint32_t> chosen;  // the slot set, in order
    uint32_t new_backends = 0;
    for (std::size_t i = 0; i < service.backends.size(); ++i) {
      const Backend& b = service.backends[i];
      if (b.state == BackendState::Listed) continue;
      ids[i] = known_key ? known_backend(id, b) : 0;
      new_backends += ids[i] == 0;
      if (chosen_for_new_connects(b.state)) chosen.push_back(ids[i]);
    }
    auto live = old ? kernel_.live_backend_ids(*old) : std::nullopt;
    bool same_set = new_backends == 0 && live && *live == chosen;

    Cost cost;
    cost.services = known_key ? 0 : 1;
    cost.state_ids = known_key ? 0 : 1;
    cost.names = known_key && kernel_.names.count(id) ? 0 : 1;
    cost.vips = kernel_.addrs.count(key.vip) || live_vip_ports_.count(key.vip) ? 0 : 1;
    cost.backend_ids = new_backends;
    cost.slots = same_set || backends_inline(static_cast<uint16_t>(chosen.size())) ? 0 : static_cast<uint32_t>(chosen.size());
    std::string why;
    if (!fits(key, cost, why)) {
      refuse(key, service, why);
      return;
    }
    spend(key, cost);

    if (!known_key) {
      id = *service_ids_->allocate();
      plan_.new_service_ids.push_back(id);
    }
    chosen.clear();
    for (std::size_t i = 0; i < service.backends.size(); ++i) {
      const Backend& b = service.backends[i];
      served_.push_back({{b.ip, b.port, key.protocol}, key});
      if (b.state == BackendState::Listed) continue;
      if (!ids[i]) {
        ids[i] = *backend_ids_->allocate();
        ++new_backend_ids_;
      }
      live_backends_.push_back({ids[i], id, b, key.protocol});
      if (chosen_for_new_connects(b.state)) chosen.push_back(ids[i]);
    }

    socklb_service_name name = encode_name(service.ref, service.port_name);
    auto old_name = kernel_.names.find(id);
    bool name_changed = old_name == kernel_.names.end() || !(old_name->second == name);
    if (name_changed) builder_.write(MapId::ServiceNames, bytes_of(id), bytes_of(name));

    ServiceShape shape;
    shape.backend_count = static_cast<uint16_t>(chosen.size());
    shape.affinity = service.affinity_timeout_sec != 0;
    shape.affinity_timeout_sec = service.affinity_timeout_sec;
    shape.fallback = !chosen.empty() && std::none_of(service.backends.begin(), service.backends.end(),
                                                     [](const Backend& b) { return b.state == BackendState::Active; });
    bool in_slots = !backends_inline(shape.backend_count);
    if (same_set || !in_slots) {
      shape.revision = old ? old->revision : 0;
    } else {
      // Fill the slot set the service does not read; the state write flips to it.
      shape.revision = old ? static_cast<uint8_t>(old->revision ^ 1) : 0;
      for (uint16_t i = 0; i < chosen.size(); ++i)
        builder_.write(MapId::Slots, bytes_of(slot_key_of({id, shape.revision, i})), bytes_of(socklb_slot_value{chosen[i]}));
    }
    if (in_slots) mark_live_slots(id, shape.revision, shape.backend_count);
    mark_live_service(key, id);

    socklb_service_state state = encode_state(id, key, shape, chosen);
    bool state_changed = !old || !(*old == state);
    if (state_changed) builder_.write(MapId::ServiceState, bytes_of(id), bytes_of(state));
    if (!known_key) builder_.write(service_key_of(key), bytes_of(socklb_service_ref{id}));

    bool had_affinity = old && (old->flags & SOCKLB_SERVICE_AFFINITY);
    bool new_owner = known_key && old_name != kernel_.names.end() && kernel_.owner(id) != service.ref;
    if (had_affinity && (!shape.affinity || new_owner)) plan_.purge_affinity.push_back(id);

    auto label = [&] { return service.ref.str() + (service.port_name.empty() ? "" : ":" + service.port_name); };
    if (!known_key) {
      ++plan_.summary.added;
      note_change('+', label(), key);
    } else if (state_changed || name_changed || new_backends || !same_set || backends_changed(id, service)) {
      ++plan_.summary.updated;
      note_change('~', label(), key);
    } else {
      ++plan_.summary.unchanged;
    }
  }

  // Did a backend of the service change state, or one that new connects do
  // not use come or go?
  bool backends_changed(uint32_t id, const DesiredService& service) const {
    std::size_t entries = 0;
    for (const auto& b : service.backends) {
      if (b.state == BackendState::Listed) continue;
      ++entries;
      uint32_t known = known_backend(id, b);
      if (!known || decode_backend(kernel_.backends.at(known)).state != b.state) return true;
    }
    return entries != backend_ids_of(id).size();
  }

  // The id of this service's backend entry at this address; 0 when none.
  // A large service's entries are looked up in a table made once.
  uint32_t known_backend(uint32_t service_id, const Backend& backend) const {
    const auto& ids = backend_ids_of(service_id);
    auto matches = [&](uint32_t id) {
      const socklb_backend& entry = kernel_.backends.at(id);
      return entry.port == htons(backend.port) && IpAddress::from_words(entry.addr) == backend.ip;
    };
    if (ids.size() <= 32) {
      for (uint32_t id : ids)
        if (matches(id)) return id;
      return 0;
    }
    auto [table, made] = large_services_.try_emplace(service_id);
    if (made)
      for (uint32_t id : ids) {
        const socklb_backend& entry = kernel_.backends.at(id);
        table->second.emplace(std::make_pair(IpAddress::from_words(entry.addr), ntohs(entry.port)), id);
      }
    auto it = table->second.find({backend.ip, backend.port});
    return it == table->second.end() ? 0 : it->second;
  }

  // Live slot sets are always indexes 0..count-1 of one revision.
  static uint64_t slot_set(uint32_t service_id, uint8_t revision) { return uint64_t{service_id} << 8 | revision; }

  void mark_live_slots(uint32_t service_id, uint8_t revision, uint16_t count) {
    uint16_t& longest = live_slot_counts_[slot_set(service_id, revision)];
    longest = std::max(longest, count);
  }

  bool slot_live(const SlotRef& slot) const {
    auto it = live_slot_counts_.find(slot_set(slot.service_id, slot.revision));
    return it != live_slot_counts_.end() && slot.index < it->second;
  }

  void mark_live_service(const ServiceKey& key, uint32_t id) {
    live_services_.insert(id);
    live_vip_ports_[key.vip].emplace_back(key, id);
  }

  // ---- endpoints: the reverse map, SHARED backends, pod addresses ----

  // getpeername() of a TCP socket without state is answered by the reverse
  // map, so an endpoint gets an entry only when exactly one ClusterIP:port
  // lists it, and its address goes into addrs, so a socket that dials it
  // directly is marked and never shown a ClusterIP. Backends of an endpoint
  // with no entry are SHARED: connects to them keep per-socket state.
  void plan_endpoints() {
    std::sort(served_.begin(), served_.end(), [](const ServedEndpoint& a, const ServedEndpoint& b) {
      return std::tie(a.endpoint, a.service) < std::tie(b.endpoint, b.service);
    });
    served_.erase(std::unique(served_.begin(), served_.end(),
                              [](const ServedEndpoint& a, const ServedEndpoint& b) {
                                return a.endpoint == b.endpoint && a.service == b.service;
                              }),
                  served_.end());
    if (scope_) {
      plan_endpoints_in_scope();
    } else {
      plan_all_endpoints();
      if (listing_) {
        *listing_ = {};
        auto& by_endpoint = listing_->by_endpoint;
        for (const auto& se : served_) {
          // served_ is sorted by endpoint: each new one goes at the end
          if (by_endpoint.empty() || !(by_endpoint.rbegin()->first == se.endpoint))
            by_endpoint.emplace_hint(by_endpoint.end(), se.endpoint, std::vector<ServiceKey>{});
          by_endpoint.rbegin()->second.push_back(se.service);
          listing_->by_service[se.service].push_back(se.endpoint);
        }
        // kept until the next full plan: without the doubling's slack
        for (auto& [_, endpoints] : listing_->by_service) endpoints.shrink_to_fit();
      }
    }
    warn_of_full_maps();
  }

  // A pod left without its addrs or reverse entry because the map is full.
  bool now_full(MapId map) {
    full_[static_cast<std::size_t>(map)] = true;
    return true;
  }
  void warn_of_full_maps() {
    std::string maps, flags;
    for (const auto& m : kMaps) {
      if (!full_[static_cast<std::size_t>(m.id)]) continue;
      maps += (maps.empty() ? "" : ", ") + std::string(m.name);
      if (flags.find(m.capacity_flag) == std::string::npos) flags += (flags.empty() ? "" : " and ") + std::string(m.capacity_flag);
    }
    if (maps.empty()) return;
    plan_.diagnostics.push_back({Diagnostic::Severity::Warning, {}, "", "",
                                 "map full (" + maps + "): connects to some pods keep per-socket state "
                                 "(slower, still correct); raise " + flags});
  }

  // Every list here is sorted by address (served_ is), so the whole pass is
  // a few walks over flat arrays: at 100,000 services it sees a million
  // endpoints, and trees of them cost 300 MB and most of the plan's time.
  void plan_all_endpoints() {
    std::vector<ServedEndpoint> unique;  // TCP endpoints one service key lists
    for (std::size_t i = 0; i < served_.size();) {
      if (served_[i].endpoint.protocol == Protocol::TCP) plan_.tcp_endpoints.push_back(served_[i].endpoint);
      std::size_t j = i + 1;
      bool one = true;
      for (; j < served_.size() && served_[j].endpoint == served_[i].endpoint; ++j)
        one &= served_[j].service == served_[i].service;
      // UDP sockets always keep their own state: only TCP needs the map
      if (served_[i].endpoint.protocol == Protocol::TCP) {
        if (one) unique.push_back(served_[i]);
        else shared_sorted_.push_back(served_[i].endpoint);
      }
      i = j;
    }

    // pod addresses, while they fit next to the ClusterIPs (new ones only
    // count: the entries are written before the old ones go)
    struct Pod {
      IpAddress ip;
      uint32_t refs = 0;
      bool dropped = false;
    };
    std::vector<Pod> pods;
    for (const auto& u : unique) {
      if (pods.empty() || !(pods.back().ip == u.endpoint.ip)) pods.push_back({u.endpoint.ip});
      ++pods.back().refs;
    }
    std::array<uint64_t, 2> extra{};
    for (auto& pod : pods) {
      MapId map = pod.ip.is_v4() ? MapId::AddrsV4 : MapId::AddrsV6;
      bool in_kernel = kernel_.addrs.count(pod.ip) > 0;
      if (live_vip_ports_.count(pod.ip)) pod.dropped = true;  // never both; a ClusterIP wins
      else if (!in_kernel && peak(map) + extra[pod.ip.is_v4() ? 0 : 1] >= limits_.of(map)) pod.dropped = now_full(map);
      else if (!in_kernel) ++extra[pod.ip.is_v4() ? 0 : 1];
    }
    uint64_t reverse_peak = kernel_.reverse.size();
    want_reverse_.reserve(unique.size());
    auto pod = pods.begin();
    for (const auto& [endpoint, service] : unique) {
      while (!(pod->ip == endpoint.ip)) ++pod;
      bool known = kernel_.reverse.count(endpoint) > 0;
      bool fits = known || reverse_peak < limits_.of(MapId::Reverse);
      if (pod->dropped || !fits) {
        shared_sorted_.push_back(endpoint);
        if (!fits) now_full(MapId::Reverse);
        continue;
      }
      reverse_peak += !known;
      want_reverse_.emplace_back(endpoint, encode_reverse(service));
    }
    std::sort(shared_sorted_.begin(), shared_sorted_.end());

    // the pods' entries and the ClusterIPs', merged in address order (no
    // address is both)
    want_addrs_.reserve(pods.size() + live_vip_ports_.size());
    auto vip = live_vip_ports_.begin();
    for (const auto& p : pods) {
      for (; vip != live_vip_ports_.end() && vip->first < p.ip; ++vip)
        want_addrs_.emplace_back(vip->first, encode_vip_addr(vip->second));
      if (!p.dropped) want_addrs_.emplace_back(p.ip, encode_pod_addr(p.refs));
    }
    for (; vip != live_vip_ports_.end(); ++vip) want_addrs_.emplace_back(vip->first, encode_vip_addr(vip->second));

    if (kernel_.reverse.empty()) builder_.reserve_writes(MapId::Reverse, want_reverse_.size());
    for (const auto& [endpoint, value] : want_reverse_) {
      auto it = kernel_.reverse.find(endpoint);
      if (it == kernel_.reverse.end() || !(it->second == value))
        builder_.write(MapId::Reverse, bytes_of(reverse_key_of(endpoint)), bytes_of(value));
    }
    for (const auto& [ip, value] : want_addrs_) {
      auto it = kernel_.addrs.find(ip);
      if (it != kernel_.addrs.end() && it->second == value) continue;
      // a ClusterIP's entry names service ids: written with the services it
      // makes reachable; a pod's before the reverse entries that need it
      builder_.write(addr_key_of(ip), bytes_of(value), addr_is_vip(value) ? 3 : 1);
    }
  }

  bool is_shared(const ReverseKey& endpoint) const {
    return scope_ ? shared_.count(endpoint) > 0 : std::binary_search(shared_sorted_.begin(), shared_sorted_.end(), endpoint);
  }

  // The scope's endpoints: its keys' old listings out, their new ones in;
  // then every address one of them is at is decided again as a whole (its
  // entry counts the endpoints there), with the SHARED flag of the other
  // services' backends at them.
  void plan_endpoints_in_scope() {
    EndpointListing& listing = *listing_;
    std::set<ReverseKey> touched, listed_before;
    for (const auto& key : *scope_) {
      auto it = listing.by_service.find(key);
      if (it == listing.by_service.end()) continue;
      for (const auto& endpoint : it->second) {
        touched.insert(endpoint);
        listed_before.insert(endpoint);
        auto who = listing.by_endpoint.find(endpoint);
        if (who == listing.by_endpoint.end()) continue;
        std::erase(who->second, key);
        if (who->second.empty()) listing.by_endpoint.erase(who);
      }
      listing.by_service.erase(it);
    }
    for (const auto& se : served_) {
      auto& who = listing.by_endpoint[se.endpoint];
      if (!who.empty()) listed_before.insert(se.endpoint);
      touched.insert(se.endpoint);
      who.insert(std::lower_bound(who.begin(), who.end(), se.service), se.service);
      listing.by_service[se.service].push_back(se.endpoint);
    }
    for (const auto& endpoint : touched)
      if (endpoint.protocol == Protocol::TCP && listed_before.count(endpoint) && !listing.by_endpoint.count(endpoint))
        plan_.gone_tcp_endpoints.push_back(endpoint);

    std::set<IpAddress> ips;
    for (const auto& endpoint : touched) ips.insert(endpoint.ip);
    for (const auto& key : *scope_) ips.insert(key.vip);
    std::array<uint64_t, 2> extra{};
    uint64_t reverse_peak = kernel_.reverse.size();
    for (const auto& ip : ips) decide_address(ip, extra, reverse_peak);
  }

  void decide_address(const IpAddress& ip, std::array<uint64_t, 2>& extra, uint64_t& reverse_peak) {
    const EndpointListing& listing = *listing_;
    constexpr auto kLowest = static_cast<Protocol>(0);
    // the ClusterIP's ports after the plan: the scope's as planned, the rest as served
    std::vector<std::pair<ServiceKey, uint32_t>> ports;
    if (auto it = live_vip_ports_.find(ip); it != live_vip_ports_.end()) ports = it->second;
    for (auto it = kernel_.services.lower_bound({ip, 0, kLowest}); it != kernel_.services.end() && it->first.vip == ip; ++it)
      if (!scope_->count(it->first)) ports.emplace_back(it->first, it->second);

    std::vector<std::pair<ReverseKey, ServiceKey>> unique;
    std::vector<ReverseKey> tcp;
    for (auto it = listing.by_endpoint.lower_bound({ip, 0, kLowest}); it != listing.by_endpoint.end() && it->first.ip == ip;
         ++it) {
      if (it->first.protocol != Protocol::TCP) continue;
      tcp.push_back(it->first);
      if (it->second.size() == 1) unique.emplace_back(it->first, it->second.front());
      else shared_.insert(it->first);
    }

    std::optional<socklb_addr_value> want;
    bool in_kernel = kernel_.addrs.count(ip) > 0;
    bool dropped = !ports.empty();  // never both; a ClusterIP wins
    if (!ports.empty()) {
      want = encode_vip_addr(ports);
    } else if (!unique.empty()) {
      MapId map = ip.is_v4() ? MapId::AddrsV4 : MapId::AddrsV6;
      uint64_t& added = extra[ip.is_v4() ? 0 : 1];
      if (!in_kernel && peak(map) + added >= limits_.of(map)) {
        dropped = now_full(map);
      } else {
        added += !in_kernel;
        want = encode_pod_addr(static_cast<uint32_t>(unique.size()));
      }
    }
    std::set<ReverseKey> wanted;
    for (const auto& [endpoint, service] : unique) {
      bool known = kernel_.reverse.count(endpoint) > 0;
      bool fits = known || reverse_peak < limits_.of(MapId::Reverse);
      if (dropped || !fits) {
        shared_.insert(endpoint);
        if (!fits) now_full(MapId::Reverse);
        continue;
      }
      reverse_peak += !known;
      wanted.insert(endpoint);
      socklb_reverse_value value = encode_reverse(service);
      auto it = kernel_.reverse.find(endpoint);
      if (it == kernel_.reverse.end() || !(it->second == value))
        builder_.write(MapId::Reverse, bytes_of(reverse_key_of(endpoint)), bytes_of(value));
    }
    for (auto it = kernel_.reverse.lower_bound({ip, 0, kLowest}); it != kernel_.reverse.end() && it->first.ip == ip; ++it)
      if (!wanted.count(it->first)) builder_.remove(MapId::Reverse, bytes_of(reverse_key_of(it->first)));

    auto old = kernel_.addrs.find(ip);
    if (want && (old == kernel_.addrs.end() || !(old->second == *want)))
      builder_.write(addr_key_of(ip), bytes_of(*want), addr_is_vip(*want) ? 3 : 1);
    if (!want && old != kernel_.addrs.end()) builder_.remove(addr_key_of(ip), addr_is_vip(old->second) ? 3 : 4);

    // the backends other services keep at these endpoints: their SHARED flag
    for (const auto& endpoint : tcp) {
      bool shared = is_shared(endpoint);
      for (const auto& key : listing.by_endpoint.at(endpoint)) {
        if (scope_->count(key)) continue;  // written with its service
        auto service = kernel_.services.find(key);
        if (service == kernel_.services.end()) continue;
        uint32_t id = known_backend(service->second, {endpoint.ip, endpoint.port, BackendState::Active});
        if (!id) continue;  // listed only: no entry
        const socklb_backend& value = kernel_.backends.at(id);
        if (backend_shared(value) == shared) continue;
        builder_.write(MapId::Backends, bytes_of(id), bytes_of(encode_backend(decode_backend(value), service->second, shared)));
      }
    }
  }

  void write_backends() {
    std::sort(live_backends_.begin(), live_backends_.end(),
              [](const LiveBackend& a, const LiveBackend& b) { return a.id < b.id; });
    if (!scope_ && kernel_.backends.empty()) builder_.reserve_writes(MapId::Backends, live_backends_.size());
    for (const auto& live : live_backends_) {
      bool shared = live.protocol == Protocol::TCP && is_shared({live.backend.ip, live.backend.port, live.protocol});
      socklb_backend value = encode_backend(live.backend, live.service_id, shared);
      auto it = kernel_.backends.find(live.id);
      if (it == kernel_.backends.end() || !(it->second == value))
        builder_.write(MapId::Backends, bytes_of(live.id), bytes_of(value));
    }
  }

  // ---- what no live service uses any more ----

  // Left over from removed services, replaced slot sets, or a sync that was
  // interrupted. Removed only after the wait for readers (apply_plan.cpp).
  void collect_garbage() {
    if (scope_) {
      std::unordered_set<uint32_t> live_backends;
      for (const auto& b : live_backends_) live_backends.insert(b.id);
      collect_garbage_in_scope(live_backends);
      return;
    }
    for (const auto& [slot, _] : kernel_.slots)
      if (!slot_live(slot)) builder_.remove(MapId::Slots, bytes_of(slot_key_of(slot)));
    // both in id order (write_backends sorted the live ones)
    auto live = live_backends_.begin();
    for (const auto& [id, _] : kernel_.backends) {
      while (live != live_backends_.end() && live->id < id) ++live;
      if (live != live_backends_.end() && live->id == id) continue;
      builder_.remove(MapId::Backends, bytes_of(id));
      plan_.released_backend_ids.push_back(id);
    }
    for (const auto& [id, _] : kernel_.states) {
      if (live_services_.count(id)) continue;
      builder_.remove(MapId::ServiceState, bytes_of(id));
      plan_.released_service_ids.push_back(id);
    }
    for (const auto& [id, _] : kernel_.names)
      if (!live_services_.count(id)) builder_.remove(MapId::ServiceNames, bytes_of(id));
    // the kernel's maps and the wanted lists are all in address order
    auto addr = want_addrs_.begin();
    for (const auto& [ip, value] : kernel_.addrs) {
      while (addr != want_addrs_.end() && addr->first < ip) ++addr;
      if (addr == want_addrs_.end() || !(addr->first == ip)) builder_.remove(addr_key_of(ip), addr_is_vip(value) ? 3 : 4);
    }
    auto reverse = want_reverse_.begin();
    for (const auto& [endpoint, _] : kernel_.reverse) {
      while (reverse != want_reverse_.end() && reverse->first < endpoint) ++reverse;
      if (reverse == want_reverse_.end() || !(reverse->first == endpoint))
        builder_.remove(MapId::Reverse, bytes_of(reverse_key_of(endpoint)));
    }
  }

  // What the scope's services used and no longer use. Anything else left
  // over (an interrupted sync's) waits for the next full plan.
  void collect_garbage_in_scope(const std::unordered_set<uint32_t>& live_backends) {
    std::set<uint32_t> ids;
    for (const auto& key : *scope_)
      if (auto it = kernel_.services.find(key); it != kernel_.services.end()) ids.insert(it->second);
    for (uint32_t id : ids) {
      for (auto it = kernel_.slots.lower_bound({id, 0, 0}); it != kernel_.slots.end() && it->first.service_id == id; ++it)
        if (!slot_live(it->first)) builder_.remove(MapId::Slots, bytes_of(slot_key_of(it->first)));
      for (uint32_t backend_id : backend_ids_of(id)) {
        if (live_backends.count(backend_id)) continue;
        builder_.remove(MapId::Backends, bytes_of(backend_id));
        plan_.released_backend_ids.push_back(backend_id);
      }
      if (live_services_.count(id)) continue;
      if (kernel_.states.count(id)) {
        builder_.remove(MapId::ServiceState, bytes_of(id));
        plan_.released_service_ids.push_back(id);
      }
      if (kernel_.names.count(id)) builder_.remove(MapId::ServiceNames, bytes_of(id));
    }
  }

  void note_change(char what, const std::string& label, const ServiceKey& key) {
    plan_.summary.changes.push_back(what + label + " " + key.str());
  }

  std::string kernel_owner_label(uint32_t id) const {
    auto name = kernel_.names.find(id);
    if (name == kernel_.names.end()) return "?";
    std::string port = name_field(name->second.port_name, sizeof(name->second.port_name));
    return kernel_.owner(id).str() + (port.empty() ? "" : ":" + port);
  }

  const DesiredState& desired_;
  const KernelState& kernel_;
  const PlanLimits& limits_;
  const std::set<ServiceKey>* scope_;
  EndpointListing* listing_;
  std::optional<IdAllocator> service_ids_;
  std::optional<IdAllocator> backend_ids_;
  std::size_t new_backend_ids_ = 0;
  std::array<uint64_t, kMaps.size()> peak_{};
  mutable std::unordered_map<uint32_t, std::map<std::pair<IpAddress, uint16_t>, uint32_t>> large_services_;
  PlanBuilder builder_;
  Plan plan_;
  std::unordered_map<uint64_t, uint16_t> live_slot_counts_;  // slot_set() -> live slots 0..count-1
  std::vector<LiveBackend> live_backends_;
  std::unordered_set<uint32_t> live_services_;
  std::map<IpAddress, std::vector<std::pair<ServiceKey, uint32_t>>> live_vip_ports_;  // -> its live ports
  std::vector<ServedEndpoint> served_;
  std::set<ReverseKey> shared_;              // a scoped plan's endpoints whose backends are SHARED
  std::vector<ReverseKey> shared_sorted_;    // a full plan's, sorted
  // a full plan's entries, in key order
  std::vector<std::pair<ReverseKey, socklb_reverse_value>> want_reverse_;
  std::vector<std::pair<IpAddress, socklb_addr_value>> want_addrs_;
  std::array<bool, kMaps.size()> full_{};  // maps that left some pods without an entry
};

}  // namespace

PlanLimits limits_of(const MapStore& store) {
  PlanLimits limits;
  for (const auto& m : kMaps) limits.capacity[static_cast<std::size_t>(m.id)] = store.capacity(m.id);
  return limits;
}

Plan make_plan(const DesiredState& desired, const KernelState& kernel, const PlanLimits& limits,
               EndpointListing* listing) {
  return Planner(desired, kernel, limits, nullptr, listing).run();
}

Plan make_plan(const DesiredState& desired, const KernelState& kernel, const PlanLimits& limits,
               const std::set<ServiceKey>& scope, EndpointListing& listing) {
  return Planner(desired, kernel, limits, &scope, &listing).run();
}

}  // namespace socklb
