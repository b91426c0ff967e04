#include "sources/manifest_source.h"

#include <unordered_map>

#include "manifests/file_stamp.h"

namespace socklb {
namespace {

// One file's objects by id. The pointers share the file's ManifestSet (the
// aliasing constructor): no object is copied, and a file's objects are
// freed when the last of them is replaced.
using ById = std::map<ObjectId, ObjectPtr>;

struct Indexed {
  ById objects;
  std::vector<BrokenObject> duplicates;  // an id defined twice in the file
  Diagnostics diagnostics;
};

template <typename T>
void index_all(const std::shared_ptr<const ManifestSet>& set, const std::vector<T>& list, Indexed& out) {
  for (const T& object : list) {
    ObjectPtr ptr = std::shared_ptr<const T>(set, &object);
    auto [it, fresh] = out.objects.emplace(id_of(ptr), ptr);
    if (fresh) continue;
    // One file defines it twice: which one is meant is unknown, so the
    // services it concerns keep their state, as for any broken object.
    const ObjectMeta& first = meta_of(it->second);
    out.duplicates.push_back({object.meta.kind, object.meta.ns, object.meta.name, object.meta.labels});
    out.diagnostics.push_back({Diagnostic::Severity::Error, first.where, first.ref(), "",
                               "defined twice (again at " + object.meta.where.file + ":" +
                                   std::to_string(object.meta.where.line) +
                                   "); the services it concerns keep what they served before"});
  }
}

Indexed index(const std::shared_ptr<const ManifestSet>& set) {
  Indexed out;
  if (!set) return out;
  index_all(set, set->services, out);
  index_all(set, set->slices, out);
  index_all(set, set->endpoints, out);
  index_all(set, set->pods, out);
  return out;
}

}  // namespace

SourceUpdate ManifestSource::read() {
  auto files = reader_.read_files(root_);  // throws before anything is changed
  SourceUpdate out;
  out.origins = files.size();
  out.parsed = reader_.last_work().parsed;
  std::map<std::string, File> now;
  bool hold = false;
  for (auto& [name, objects] : files) {
    hold = hold || objects->hold_everything;
    auto before = files_.find(name);
    File file{before != files_.end() ? before->second.origin : next_origin_++, objects};
    if (before == files_.end()) diff(file, nullptr, out);
    else if (before->second.objects != objects) {
      diff(file, before->second.objects, out);
      if (auto stamp = stamp_of(name))
        out.change_triggers.push_back(std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(stamp->mtime_ns))));
    }
    now.emplace(name, std::move(file));
  }
  for (const auto& [name, gone] : files_) {
    if (now.count(name)) continue;
    diff({gone.origin, nullptr}, gone.objects, out);
  }
  files_ = std::move(now);
  if (hold != held_everything_) out.hold_everything = hold;  // said when it changes only
  held_everything_ = hold;
  return out;
}

void ManifestSource::diff(const File& file, const ManifestReader::FileObjects& before, SourceUpdate& out) const {
  Indexed old_objects = index(before);
  Indexed new_objects = index(file.objects);
  for (const auto& [id, object] : new_objects.objects) {
    auto old = old_objects.objects.find(id);
    // the same content is reported too: the store takes the new version's
    // place in the file (for messages) without reconciling anything
    if (old == old_objects.objects.end() || old->second != object)
      out.events.push_back({ObjectEvent::Type::Upsert, file.origin, id, object});
  }
  for (const auto& [id, _] : old_objects.objects)
    if (!new_objects.objects.count(id)) out.events.push_back({ObjectEvent::Type::Delete, file.origin, id, {}});

  std::vector<BrokenObject> broken = file.objects ? file.objects->broken : std::vector<BrokenObject>{};
  broken.insert(broken.end(), new_objects.duplicates.begin(), new_objects.duplicates.end());
  out.broken.emplace_back(file.origin, std::move(broken));
  if (file.objects) {
    out.diagnostics.insert(out.diagnostics.end(), file.objects->diagnostics.begin(), file.objects->diagnostics.end());
    out.diagnostics.insert(out.diagnostics.end(), new_objects.diagnostics.begin(), new_objects.diagnostics.end());
  }
}

}  // namespace socklb
