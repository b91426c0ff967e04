#include <arpa/inet.h>

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "plan/id_allocator.h"
#include "plan/plan.h"

namespace socklb {
namespace {

constexpr std::size_t kMaxBackendsPerService = 65535;  // slot index and count are 16-bit

// A backend address as one service uses it. The planner looks one up for
// every desired backend; a sorted vector of them is one allocation where the
// map of maps it replaces was one per backend (profiled: allocating and
// freeing per-entry nodes was most of a 10,000-service sync).
struct OwnedAddress {
  uint32_t service_id;
  uint16_t port;  // network order, as in the map
  IpAddress ip;
  auto operator<=>(const OwnedAddress&) const = default;
};

struct KnownBackend {
  OwnedAddress address;
  uint32_t id;
  const socklb_backend* value;
};

class Planner {
 public:
  Planner(const DesiredState& desired, const KernelState& kernel, const Capacity& capacity)
      : desired_(desired), kernel_(kernel), capacity_(capacity),
        service_ids_(used_service_ids(kernel)), backend_ids_(used_backend_ids(kernel)) {
    backends_of_.reserve(kernel.backends.size());
    for (const auto& [id, backend] : kernel.backends)
      backends_of_.push_back({{backend.service_id, backend.port, IpAddress::from_words(backend.addr)}, id, &backend});
    // stable: of two entries with one address (an interrupted sync), the higher id wins, as before
    std::stable_sort(backends_of_.begin(), backends_of_.end(),
                     [](const KnownBackend& a, const KnownBackend& b) { return a.address < b.address; });
    live_backends_.reserve(kernel.backends.size());
    for (const auto& [key, _] : kernel.services) ++(key.vip.is_v4() ? peak_.services_v4 : peak_.services_v6);
    for (const auto& [vip, _] : kernel.vips) ++(vip.is_v4() ? peak_.vips_v4 : peak_.vips_v6);
    peak_.slots = static_cast<uint32_t>(kernel.slots.size());
    peak_.backends = static_cast<uint32_t>(kernel.backends.size());
    peak_.names = static_cast<uint32_t>(kernel.names.size());
  }

  Plan run() {
    for (const auto& [key, value] : kernel_.services) {
      if (desired_.services.count(key)) continue;
      if (desired_.is_held(kernel_.owner(value.id))) {
        keep(key, value);
        ++plan_.summary.held;
      } else {
        plan_.delete_services.push_back(key);
        if (value.flags & SOCKLB_SERVICE_AFFINITY) plan_.purge_affinity.push_back(value.id);
        ++plan_.summary.removed;
        note_change('-', kernel_owner_label(value.id), key);
      }
    }
    for (const auto& [key, service] : desired_.services) upsert(key, service);
    collect_garbage();
    plan_.summary.services = live_services_;
    plan_.summary.backends = live_backends_.size();  // unique since collect_garbage()
    return std::move(plan_);
  }

 private:
  // Both lists come mostly sorted from the maps' order: merging sorted runs
  // keeps this linear (a plain sort of the concatenation fell into heapsort).
  static std::vector<uint32_t> merged(std::vector<uint32_t> a, std::vector<uint32_t> b) {
    if (!std::is_sorted(a.begin(), a.end())) std::sort(a.begin(), a.end());
    if (!std::is_sorted(b.begin(), b.end())) std::sort(b.begin(), b.end());
    std::vector<uint32_t> out(a.size() + b.size());
    std::merge(a.begin(), a.end(), b.begin(), b.end(), out.begin());
    return out;
  }

  static IdAllocator used_service_ids(const KernelState& k) {
    std::vector<uint32_t> named, others;
    for (const auto& [id, _] : k.names) named.push_back(id);
    for (const auto& [_, v] : k.services) others.push_back(v.id);
    for (const auto& [slot, _] : k.slots)
      if (others.empty() || others.back() != slot.service_id) others.push_back(slot.service_id);
    return IdAllocator(merged(std::move(named), std::move(others)));
  }

  static IdAllocator used_backend_ids(const KernelState& k) {
    std::vector<uint32_t> stored, in_slots;
    stored.reserve(k.backends.size());
    in_slots.reserve(k.slots.size());
    for (const auto& [id, _] : k.backends) stored.push_back(id);
    for (const auto& [_, id] : k.slots) in_slots.push_back(id);
    return IdAllocator(merged(std::move(stored), std::move(in_slots)));
  }

  // A service the kernel keeps serving as it is: everything it uses is live.
  void keep(const ServiceKey& key, const socklb_service_value& value) {
    mark_live(key, value.id);
    mark_live_slots(value.id, value.revision, value.backend_count);
    for (uint16_t i = 0; i < value.backend_count; ++i) {
      if (auto it = kernel_.slots.find(SlotRef{value.id, value.revision, i}); it != kernel_.slots.end())
        live_backends_.push_back(it->second);
    }
  }

  // Live slot sets are always indexes 0..count-1 of one revision, so the
  // longest count per (service, revision) says which slots are live.
  static uint64_t slot_set(uint32_t service_id, uint8_t revision) { return uint64_t{service_id} << 8 | revision; }

  void mark_live_slots(uint32_t service_id, uint8_t revision, uint16_t count) {
    uint16_t& longest = live_slot_counts_[slot_set(service_id, revision)];
    longest = std::max(longest, count);
  }

  bool slot_live(const SlotRef& slot) const {
    auto it = live_slot_counts_.find(slot_set(slot.service_id, slot.revision));
    return it != live_slot_counts_.end() && slot.index < it->second;
  }

  void mark_live(const ServiceKey& key, uint32_t id) {
    live_names_.insert(id);
    ++live_vip_ports_[key.vip];
    ++live_services_;
  }

  // What adding this service costs at the peak of the plan, before the
  // removals of phase 4 free anything.
  struct Cost {
    uint32_t services = 0, vips = 0, names = 0, slots = 0, backends = 0;
  };

  bool fits(const ServiceKey& key, const Cost& cost, std::string& why) const {
    bool v4 = key.vip.is_v4();
    auto check = [&](uint32_t now, uint32_t add, uint32_t cap, const char* map, const char* flag) {
      if (add == 0 || now + add <= cap) return true;
      why = std::string("the ") + map + " map is full (" + std::to_string(cap) + " entries): raise " + flag;
      return false;
    };
    return check(v4 ? peak_.services_v4 : peak_.services_v6, cost.services, v4 ? capacity_.services_v4 : capacity_.services_v6,
                 v4 ? "services_v4" : "services_v6", "--max-services") &&
           check(v4 ? peak_.vips_v4 : peak_.vips_v6, cost.vips, v4 ? capacity_.vips_v4 : capacity_.vips_v6,
                 v4 ? "vips_v4" : "vips_v6", "--max-services") &&
           check(peak_.names, cost.names, capacity_.names, "service_names", "--max-services") &&
           check(peak_.backends, cost.backends, capacity_.backends, "backends", "--max-backends") &&
           check(peak_.slots, cost.slots, capacity_.slots, "slots", "--max-backends");
  }

  void refuse(const ServiceKey& key, const DesiredService& service, const std::string& why) {
    plan_.diagnostics.push_back({Diagnostic::Severity::Error, service.where, "Service " + service.ref.str(), key.str(),
                                 why + "; the service keeps what it served before"});
    if (auto it = kernel_.services.find(key); it != kernel_.services.end()) keep(key, it->second);
    ++plan_.summary.held;
  }

  void upsert(const ServiceKey& key, const DesiredService& service) {
    auto existing = kernel_.services.find(key);
    const socklb_service_value* old = existing == kernel_.services.end() ? nullptr : &existing->second;
    if (service.backends.size() > kMaxBackendsPerService) {
      refuse(key, service, "has " + std::to_string(service.backends.size()) + " backends; at most " +
                               std::to_string(kMaxBackendsPerService) + " per service port are served");
      return;
    }
    uint32_t id = old ? old->id : 0;

    // An address that already serves this service keeps its backend id; ids
    // of new addresses (0 here) are allocated once the service fits.
    std::vector<uint32_t> ids;
    std::vector<std::pair<uint32_t, socklb_backend>> changed_backends;
    ids.reserve(service.backends.size());
    for (const auto& backend : service.backends) {
      auto [known, current] = old ? known_backend(id, backend) : std::pair<uint32_t, const socklb_backend*>{0, nullptr};
      ids.push_back(known);
      if (known) {
        socklb_backend wanted = encode_backend(backend, id);
        if (!(*current == wanted)) changed_backends.emplace_back(known, wanted);
      }
    }
    auto live = old ? kernel_.live_backend_ids(*old) : std::nullopt;
    bool same_set = live && *live == ids;

    Cost cost;
    cost.services = old ? 0 : 1;
    cost.names = old ? 0 : 1;
    cost.vips = kernel_.vips.count(key.vip) || live_vip_ports_.count(key.vip) ? 0 : 1;
    cost.backends = static_cast<uint32_t>(std::count(ids.begin(), ids.end(), 0u));
    cost.slots = same_set ? 0 : static_cast<uint32_t>(ids.size());
    std::string why;
    if (!fits(key, cost, why)) {
      refuse(key, service, why);
      return;
    }
    spend(key, cost);

    if (!old) id = service_ids_.allocate();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i]) continue;
      ids[i] = backend_ids_.allocate();
      plan_.write_backends.emplace_back(ids[i], encode_backend(service.backends[i], id));
    }
    plan_.write_backends.insert(plan_.write_backends.end(), changed_backends.begin(), changed_backends.end());
    live_backends_.insert(live_backends_.end(), ids.begin(), ids.end());

    socklb_service_name name = encode_name(service.ref, service.port_name);
    auto old_name = kernel_.names.find(id);
    bool name_changed = old_name == kernel_.names.end() || !(old_name->second == name);
    if (name_changed) plan_.write_names.emplace_back(id, name);

    socklb_service_value value = service_value(id, service);
    if (same_set) {
      value.revision = old->revision;
    } else {
      // Fill the slot set the service does not read; phase 3 flips to it.
      value.revision = old ? static_cast<uint8_t>(old->revision ^ 1) : 0;
      for (uint16_t i = 0; i < ids.size(); ++i) plan_.write_slots.emplace_back(SlotRef{id, value.revision, i}, ids[i]);
    }
    mark_live_slots(id, value.revision, static_cast<uint16_t>(ids.size()));
    mark_live(key, id);

    bool had_affinity = old && (old->flags & SOCKLB_SERVICE_AFFINITY);
    bool new_owner = old && old_name != kernel_.names.end() && kernel_.owner(id) != service.ref;
    if (had_affinity && (!(value.flags & SOCKLB_SERVICE_AFFINITY) || new_owner)) plan_.purge_affinity.push_back(id);

    bool value_changed = !old || !(*old == value);
    if (value_changed) plan_.write_services.emplace_back(key, value);
    auto label = [&] { return service.ref.str() + (service.port_name.empty() ? "" : ":" + service.port_name); };
    if (!old) {
      ++plan_.summary.added;
      note_change('+', label(), key);
    } else if (value_changed || name_changed || !changed_backends.empty()) {
      ++plan_.summary.updated;
      note_change('~', label(), key);
    } else {
      ++plan_.summary.unchanged;
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

  // The id and kernel value of this service's backend at this address; {0, nullptr} when none.
  std::pair<uint32_t, const socklb_backend*> known_backend(uint32_t service_id, const Backend& backend) const {
    OwnedAddress want{service_id, htons(backend.port), backend.ip};
    auto it = std::upper_bound(backends_of_.begin(), backends_of_.end(), want,
                               [](const OwnedAddress& w, const KnownBackend& k) { return w < k.address; });
    if (it == backends_of_.begin() || !((it - 1)->address == want)) return {0, nullptr};
    return {(it - 1)->id, (it - 1)->value};
  }

  static socklb_service_value service_value(uint32_t id, const DesiredService& service) {
    socklb_service_value value{};
    value.id = id;
    value.backend_count = static_cast<uint16_t>(service.backends.size());
    value.affinity_timeout_sec = service.affinity_timeout_sec;
    if (service.affinity_timeout_sec) value.flags |= SOCKLB_SERVICE_AFFINITY;
    bool all_terminating = !service.backends.empty() &&
        std::all_of(service.backends.begin(), service.backends.end(),
                    [](const Backend& b) { return b.state == BackendState::Terminating; });
    if (all_terminating) value.flags |= SOCKLB_SERVICE_FALLBACK;
    return value;
  }

  void spend(const ServiceKey& key, const Cost& cost) {
    (key.vip.is_v4() ? peak_.services_v4 : peak_.services_v6) += cost.services;
    (key.vip.is_v4() ? peak_.vips_v4 : peak_.vips_v6) += cost.vips;
    peak_.names += cost.names;
    peak_.backends += cost.backends;
    peak_.slots += cost.slots;
  }

  // Whatever no live service uses any more: left over from removed services,
  // replaced slot sets, or a sync that was interrupted.
  void collect_garbage() {
    for (const auto& [slot, _] : kernel_.slots)
      if (!slot_live(slot)) plan_.delete_slots.push_back(slot);
    std::sort(live_backends_.begin(), live_backends_.end());
    live_backends_.erase(std::unique(live_backends_.begin(), live_backends_.end()), live_backends_.end());
    for (const auto& [id, _] : kernel_.backends)
      if (!std::binary_search(live_backends_.begin(), live_backends_.end(), id)) plan_.delete_backends.push_back(id);
    for (const auto& [id, _] : kernel_.names)
      if (!live_names_.count(id)) plan_.delete_names.push_back(id);
    for (const auto& [vip, ports] : live_vip_ports_) {
      auto it = kernel_.vips.find(vip);
      if (it == kernel_.vips.end() || it->second != ports) plan_.write_vips.emplace_back(vip, socklb_vip_value{ports});
    }
    for (const auto& [vip, _] : kernel_.vips)
      if (!live_vip_ports_.count(vip)) plan_.delete_vips.push_back(vip);
  }

  const DesiredState& desired_;
  const KernelState& kernel_;
  const Capacity& capacity_;
  IdAllocator service_ids_;
  IdAllocator backend_ids_;
  std::vector<KnownBackend> backends_of_;  // sorted by address
  Capacity peak_;
  Plan plan_;
  std::unordered_map<uint64_t, uint16_t> live_slot_counts_;  // slot_set() -> live slots 0..count-1
  std::vector<uint32_t> live_backends_;  // may repeat until collect_garbage()
  std::unordered_set<uint32_t> live_names_;
  std::map<IpAddress, uint32_t> live_vip_ports_;
  std::size_t live_services_ = 0;
};

}  // namespace

Plan make_plan(const DesiredState& desired, const KernelState& kernel, const Capacity& capacity) {
  return Planner(desired, kernel, capacity).run();
}

}  // namespace socklb
