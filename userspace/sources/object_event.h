#pragma once
// What a source tells the object store: an object of some kind was upserted
// or deleted, as one origin (a manifest file, the Kubernetes API) sees it.
// Sources know nothing of services or maps; the store works out what an
// event touches.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "manifests/diagnostic.h"
#include "manifests/manifest_set.h"
#include "manifests/objects.h"

namespace socklb {

enum class ObjectKind : uint8_t { Service, EndpointSlice, Endpoints, Pod };

// kind/namespace/name: what identifies an object across versions.
struct ObjectId {
  ObjectKind kind = ObjectKind::Service;
  std::string ns;
  std::string name;
  auto operator<=>(const ObjectId&) const = default;
};

// One version of an object, shared: the source that parsed it and the store
// hold the same one.
using ObjectPtr = std::variant<std::shared_ptr<const Service>, std::shared_ptr<const EndpointSlice>,
                               std::shared_ptr<const Endpoints>, std::shared_ptr<const Pod>>;

ObjectId id_of(const ObjectPtr& object);
const ObjectMeta& meta_of(const ObjectPtr& object);

// Which file (or API) an object came from. Two origins may hold an object of
// one id (a Service defined in two files): the store keeps both, and
// reconcile decides.
using Origin = uint32_t;

struct ObjectEvent {
  enum class Type : uint8_t { Upsert, Delete };
  Type type = Type::Upsert;
  Origin origin = 0;
  ObjectId id;
  ObjectPtr object;  // the new version (Upsert); unset for Delete
};

// One source's news, applied to the store as one batch.
struct SourceUpdate {
  std::vector<ObjectEvent> events;
  // Objects an origin could not validate, replacing what that origin said
  // before: they hold the services they would have changed at their previous
  // state (`broken` only for origins listed here).
  std::vector<std::pair<Origin, std::vector<BrokenObject>>> broken;
  // Some input cannot be read and what it held is unknown: no service may be
  // removed until it reads again. Unset: unchanged.
  std::optional<bool> hold_everything;
  Diagnostics diagnostics;  // about the input that changed
  // When the changes were triggered, as their source knows it (an
  // EndpointSlice's last-change-trigger-time, a file's modification time):
  // for the network programming latency.
  std::vector<std::chrono::system_clock::time_point> change_triggers;
  std::size_t origins = 0;  // files (or lists) looked at
  std::size_t parsed = 0;   // of which read anew

  bool empty() const { return events.empty() && broken.empty() && !hold_everything; }
};

// Two versions of an object with the same content (their place in a file
// aside): a new version that is equal to the old one changes nothing.
bool same_content(const ObjectPtr& a, const ObjectPtr& b);

// Every object of a set as upserts, each from its own origin (so one
// defined twice is two instances, as two files would give), with its broken
// objects: what a from-scratch reconcile of the set starts from.
SourceUpdate upserts_of(const ManifestSet& input);

}  // namespace socklb
