#include "sources/object_event.h"

namespace socklb {
namespace {

constexpr ObjectKind kind_of(const Service&) { return ObjectKind::Service; }
constexpr ObjectKind kind_of(const EndpointSlice&) { return ObjectKind::EndpointSlice; }
constexpr ObjectKind kind_of(const Endpoints&) { return ObjectKind::Endpoints; }
constexpr ObjectKind kind_of(const Pod&) { return ObjectKind::Pod; }

template <typename T>
void upsert_each(const std::vector<T>& objects, Origin& origin, SourceUpdate& update) {
  for (const T& object : objects) {
    ObjectPtr ptr = std::make_shared<const T>(object);
    update.events.push_back({ObjectEvent::Type::Upsert, origin++, id_of(ptr), ptr});
  }
}

}  // namespace

SourceUpdate upserts_of(const ManifestSet& input) {
  SourceUpdate update;
  Origin origin = 1;
  upsert_each(input.services, origin, update);
  upsert_each(input.slices, origin, update);
  upsert_each(input.endpoints, origin, update);
  upsert_each(input.pods, origin, update);
  update.broken.emplace_back(0, input.broken);
  update.hold_everything = input.hold_everything;
  update.diagnostics = input.diagnostics;
  update.origins = input.files;
  return update;
}

ObjectId id_of(const ObjectPtr& object) {
  return std::visit([](const auto& p) { return ObjectId{kind_of(*p), p->meta.ns, p->meta.name}; }, object);
}

const ObjectMeta& meta_of(const ObjectPtr& object) {
  return std::visit([](const auto& p) -> const ObjectMeta& { return p->meta; }, object);
}

bool same_content(const ObjectPtr& a, const ObjectPtr& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& pa) {
        const auto& pb = std::get<std::decay_t<decltype(pa)>>(b);
        return pa == pb || (pa && pb && *pa == *pb);
      },
      a);
}

}  // namespace socklb
