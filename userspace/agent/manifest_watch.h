#pragma once
// Tells when the manifests under a path may have changed (inotify).

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "manifests/manifest_reader.h"
#include "sys/unique_fd.h"

namespace socklb {

class ManifestWatch {
 public:
  explicit ManifestWatch(std::filesystem::path root);

  int fd() const { return fd_.get(); }

  struct Changes {
    bool relevant = false;  // a manifest may have changed: worth a sync
    ManifestReader::ChangedFiles files;  // which (for ManifestSource::changed)
  };
  // Reads the pending events. Watches new subdirectories as they appear.
  Changes drain();

 private:
  void watch_tree();
  // What an entry of a watched directory is now (not following a symlink):
  // a file created as a symlink, or as a hard link to a file written
  // elsewhere, is complete as it appears (no close follows).
  std::optional<struct stat> lstat_of(int wd, const std::string& name) const;

  std::filesystem::path root_;
  bool root_is_file_;
  UniqueFd fd_;
  std::map<int, std::filesystem::path> dirs_;  // watch descriptor -> directory
};

}  // namespace socklb
