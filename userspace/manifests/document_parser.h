#pragma once
// Parses the text of one YAML file into typed objects, one document at a
// time, so a broken document does not hide the valid ones around it.

#include <string>

#include "manifests/manifest_set.h"

namespace socklb {

struct ParsedFile {
  ManifestSet objects;
  // A document could not be parsed or classified: what it held is unknown.
  bool unreadable = false;
};

ParsedFile parse_manifest_text(const std::string& text, const std::string& file_name);

}  // namespace socklb
