#pragma once
// The manifest files as a source of object events: each read reports what
// changed since the previous one, file by file, as upserts and deletes. Told
// by a watcher which files changed, a read costs only those: a file that did
// not change costs nothing (without a watcher, a stat). One that did costs
// its changed documents' parse and the events of their objects: its other
// documents are the same objects as before and are not looked at.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "manifests/manifest_reader.h"
#include "sources/object_source.h"

namespace socklb {

class ManifestSource : public ObjectSource {
 public:
  explicit ManifestSource(std::filesystem::path root, ReaderLimits limits = {})
      : root_(std::move(root)), reader_(limits) {}

  // What changed since the last call; the first reports every object.
  // Throws std::runtime_error when the root cannot be listed (nothing is
  // reported then, and the next call starts from the same point).
  SourceUpdate read() override;

  const std::filesystem::path& root() const { return root_; }

  // What a watcher of the tree (inotify) saw change. Once told, the source
  // is told of every change: a file it was not told of is not read again
  // (not even looked at when the change names only files it knows; else
  // while its stamp stays the same). The first call should say `all`; the
  // periodic full resync says `all` too.
  void changed(const ManifestReader::ChangedFiles& files);

 private:
  struct File {
    Origin origin;
    ManifestReader::FileObjects objects;
    bool duplicates = false;  // it defines an id twice
  };

  // The events that take the store from `before` to `file`; returns whether
  // `file` defines an id twice. `before_duplicates`: whether `before` did.
  bool diff(const File& file, const ManifestReader::FileObjects& before, bool before_duplicates,
            SourceUpdate& out) const;

  std::filesystem::path root_;
  ManifestReader reader_;
  std::map<std::string, File> files_;  // as last reported
  Origin next_origin_ = 1;
  bool held_everything_ = false;  // as last reported
  // Since the last read, when a watcher reports changes (changed()).
  std::optional<ManifestReader::ChangedFiles> changed_;
};

}  // namespace socklb
