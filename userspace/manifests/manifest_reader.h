#pragma once
// Reads every *.yaml / *.yml file under a path (a file or a directory,
// recursively, in name order) into one ManifestSet.
//
// It remembers the last readable content of each file: when a file stops
// parsing (an editor mid-save, a typo), its last good objects stand in for
// the part that cannot be read, so nothing served from it is lost.

#include <filesystem>
#include <map>
#include <string>

#include "manifests/manifest_set.h"

namespace socklb {

struct ReaderLimits {
  std::uintmax_t max_file_bytes = 64u << 20;
};

class ManifestReader {
 public:
  explicit ManifestReader(ReaderLimits limits = {}) : limits_(limits) {}

  // Throws std::runtime_error when root does not exist or cannot be listed.
  ManifestSet read(const std::filesystem::path& root);

 private:
  ManifestSet read_file(const std::filesystem::path& file);

  ReaderLimits limits_;
  std::map<std::string, ManifestSet> last_good_;  // file -> its objects (valid and broken) when it last read
};

std::vector<std::filesystem::path> list_manifest_files(const std::filesystem::path& root);

}  // namespace socklb
