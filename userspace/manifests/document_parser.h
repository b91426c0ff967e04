#pragma once
// Parses the text of one YAML file into typed objects, one document at a
// time, so a broken document does not hide the valid ones around it.

#include <cstdint>
#include <string>
#include <unordered_map>

#include "manifests/manifest_set.h"

namespace socklb {

struct ParsedFile {
  ManifestSet objects;
  // A document could not be parsed or classified: what it held is unknown.
  bool unreadable = false;
};

ParsedFile parse_manifest_text(const std::string& text, const std::string& file_name);

// What each document of one file parsed to, by the document's text: a file
// rewritten with one document changed (one EndpointSlice among a thousand)
// parses that document only. Holds the documents of the last parse only.
class DocumentCache {
 public:
  std::size_t size() const { return by_text_.size(); }

 private:
  friend ParsedFile parse_manifest_text(const std::string&, const std::string&, DocumentCache&);
  std::unordered_map<uint64_t, ParsedFile> by_text_;  // lines relative to the document's first line
};

// The same result as parse_manifest_text(text, file_name), reusing `cache`
// for documents seen in the previous call, and refilling it.
ParsedFile parse_manifest_text(const std::string& text, const std::string& file_name, DocumentCache& cache);

}  // namespace socklb
