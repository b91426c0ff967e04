#pragma once
// Tells when the manifests under a path may have changed (inotify).

#include <filesystem>
#include <string>

#include "datapath/unique_fd.h"

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

  std::filesystem::path root_;
  bool root_is_file_;
  UniqueFd fd_;
};

}  // namespace socklb
