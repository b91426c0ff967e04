#pragma once
// Tells when the manifests under a path may have changed (inotify).

#include <filesystem>
#include <map>
#include <string>

#include "sys/unique_fd.h"

namespace socklb {

class ManifestWatch {
 public:
  explicit ManifestWatch(std::filesystem::path root);

  int fd() const { return fd_.get(); }
  // Reads the pending events; true if one concerns a manifest. Watches new
  // subdirectories as they appear.
  bool drain();

 private:
  void watch_tree();
  // a file created in a watched directory is a symlink: complete as it appears
  bool is_symlink(int wd, const std::string& name) const;

  std::filesystem::path root_;
  bool root_is_file_;
  UniqueFd fd_;
  std::map<int, std::filesystem::path> dirs_;  // watch descriptor -> directory
};

}  // namespace socklb
