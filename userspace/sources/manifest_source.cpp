#include "sources/manifest_source.h"

#include <algorithm>

#include "manifests/file_stamp.h"

namespace socklb {
namespace {

// One file's objects by id. The pointers share their document's objects
// (the aliasing constructor): no object is copied, an unchanged document's
// objects are the same pointers read after read, and a document's objects
// are freed when the last of them is replaced.
using ById = std::map<ObjectId, ObjectPtr>;

struct Indexed {
  ById objects;
  std::vector<BrokenObject> duplicates;  // an id defined twice in the file
  Diagnostics diagnostics;
};

template <typename T>
void index_all(const DocumentObjects& part, const std::vector<T>& list, Indexed& out) {
  for (const T& object : list) {
    ObjectPtr ptr = std::shared_ptr<const T>(part, &object);
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

void index_part(const DocumentObjects& part, Indexed& out) {
  index_all(part, part->services, out);
  index_all(part, part->slices, out);
  index_all(part, part->endpoints, out);
  index_all(part, part->pods, out);
}

Indexed index(const std::vector<DocumentObjects>& parts) {
  Indexed out;
  for (const auto& part : parts) index_part(part, out);
  return out;
}

const std::vector<DocumentObjects>& parts_of(const ManifestReader::FileObjects& file) {
  static const std::vector<DocumentObjects> none;
  return file ? file->parts : none;
}

}  // namespace

void ManifestSource::changed(const ManifestReader::ChangedFiles& files) {
  if (!changed_) changed_.emplace();
  changed_->add(files);
}

SourceUpdate ManifestSource::read() {
  auto read = reader_.read_files(root_, changed_ ? &*changed_ : nullptr);  // throws before anything is changed
  if (changed_) changed_.emplace();  // read: nothing changed since
  SourceUpdate out;
  out.parsed = reader_.last_work().parsed;
  // The file's new state, and the events from its last one.
  auto update = [&](const std::string& name, const ManifestReader::FileObjects& objects, const File* before) {
    File file{before ? before->origin : next_origin_++, objects};
    if (!before) {
      file.duplicates = diff(file, nullptr, false, out);
    } else if (before->objects != objects) {
      file.duplicates = diff(file, before->objects, before->duplicates, out);
      if (auto stamp = stamp_of(name))
        out.change_triggers.push_back(std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(stamp->mtime_ns))));
    } else {
      file.duplicates = before->duplicates;
    }
    return file;
  };
  if (read.complete) {
    std::map<std::string, File> now;
    for (auto& [name, objects] : read.files) {
      auto before = files_.find(name);
      now.emplace(name, update(name, objects, before != files_.end() ? &before->second : nullptr));
    }
    for (const auto& [name, gone] : files_) {
      if (now.count(name)) continue;
      diff({gone.origin, nullptr, false}, gone.objects, gone.duplicates, out);
    }
    files_ = std::move(now);
  } else {
    // only files the last read had, the others as they were
    for (auto& [name, objects] : read.files) {
      File& file = files_.at(name);
      file = update(name, objects, &file);
    }
  }
  out.origins = files_.size();
  bool hold = std::any_of(files_.begin(), files_.end(), [](const auto& f) { return f.second.objects->hold_everything; });
  if (hold != held_everything_) out.hold_everything = hold;  // said when it changes only
  held_everything_ = hold;
  return out;
}

bool ManifestSource::diff(const File& file, const ManifestReader::FileObjects& before, bool before_duplicates,
                          SourceUpdate& out) const {
  const auto& old_parts = parts_of(before);
  const auto& new_parts = parts_of(file.objects);
  // The documents that changed: those of one read that the other does not
  // have (an unchanged document is the same pointer in both).
  // Sorted arrays, not hash sets: a file holds about a thousand documents
  // and one change replaces one of them.
  auto sorted = [](const auto& parts) {
    std::vector<const ManifestSet*> out;
    out.reserve(parts.size());
    for (const auto& p : parts) out.push_back(p.get());
    std::sort(out.begin(), out.end());
    return out;
  };
  std::vector<const ManifestSet*> in_old = sorted(old_parts), in_new = sorted(new_parts);
  auto has = [](const std::vector<const ManifestSet*>& in, const ManifestSet* p) {
    return std::binary_search(in.begin(), in.end(), p);
  };
  std::vector<DocumentObjects> removed, added;
  for (const auto& p : old_parts)
    if (!has(in_new, p.get())) removed.push_back(p);
  for (const auto& p : new_parts)
    if (!has(in_old, p.get())) added.push_back(p);

  Indexed gone = index(removed);
  Indexed came = index(added);
  // Only the changed documents are compared when that cannot hide an id
  // defined twice: the file had none, and every id the new documents define
  // was defined by the documents they replace (so by no unchanged one).
  bool only_changed = before && !before_duplicates && gone.duplicates.empty() && came.duplicates.empty() &&
                      std::all_of(came.objects.begin(), came.objects.end(),
                                  [&](const auto& entry) { return gone.objects.count(entry.first) > 0; });
  Indexed whole;
  if (!only_changed) {
    gone = index(old_parts);
    whole = index(new_parts);
  }
  const Indexed& now = only_changed ? came : whole;
  for (const auto& [id, object] : now.objects) {
    auto old = gone.objects.find(id);
    // the same content is reported too: the store takes the new version's
    // place in the file (for messages) without reconciling anything
    if (old == gone.objects.end() || old->second != object)
      out.events.push_back({ObjectEvent::Type::Upsert, file.origin, id, object});
  }
  for (const auto& [id, _] : gone.objects)
    if (!now.objects.count(id)) out.events.push_back({ObjectEvent::Type::Delete, file.origin, id, {}});

  std::vector<BrokenObject> broken;
  for (const auto& part : new_parts) broken.insert(broken.end(), part->broken.begin(), part->broken.end());
  broken.insert(broken.end(), now.duplicates.begin(), now.duplicates.end());
  out.broken.emplace_back(file.origin, std::move(broken));
  for (const auto& part : new_parts)
    out.diagnostics.insert(out.diagnostics.end(), part->diagnostics.begin(), part->diagnostics.end());
  out.diagnostics.insert(out.diagnostics.end(), now.diagnostics.begin(), now.diagnostics.end());
  return !now.duplicates.empty();
}

}  // namespace socklb
