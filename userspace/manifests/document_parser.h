#pragma once
// Parses the text of one YAML file into typed objects, one document at a
// time, so a broken document does not hide the valid ones around it.

#include <cstdint>
#include <string>
#include <map>
#include <memory>
#include <unordered_map>

#include "manifests/manifest_set.h"
#include "manifests/yaml_tree.h"

namespace socklb {

struct ParsedFile {
  ManifestSet objects;
  // A document could not be parsed or classified: what it held is unknown.
  bool unreadable = false;
};

ParsedFile parse_manifest_text(const std::string& text, const std::string& file_name);

// One object already read into a tree (an API object decoded from JSON), by
// the rules of a manifest document; `origin` names where it came from in
// messages ("api").
ParsedFile parse_object_tree(const YamlNode& root, const std::string& origin);

// What each document of one file parsed to, by the document's text: a file
// rewritten with one document changed (one EndpointSlice among a thousand)
// parses that document only. It holds no objects of its own: a document is
// remembered as where its objects lie in the file's last result, which the
// reader hands back with adopt(), so a large tree is held once.
class DocumentCache {
 public:
  std::size_t size() const { return by_text_.size(); }
  std::size_t parsed() const { return parsed_; }  // documents the last parse had to parse
  // The result of the last parse, as the reader keeps it; without it (or
  // with nullptr, after a result the reader changed) the next parse parses
  // every document.
  void adopt(std::shared_ptr<const ManifestSet> result) { result_ = std::move(result); }

  // Where one document's objects lie in a file's result.
  struct Range {
    int first_line = 1;
    std::size_t services[2]{}, slices[2]{}, endpoints[2]{}, pods[2]{}, broken[2]{}, diagnostics[2]{};
    std::map<std::string, int> ignored_kinds;
    bool unreadable = false;
  };

 private:
  friend ParsedFile parse_manifest_text(const std::string&, const std::string&, DocumentCache&);
  std::unordered_map<uint64_t, Range> by_text_;
  std::shared_ptr<const ManifestSet> result_;
  std::size_t parsed_ = 0;
};

// The same result as parse_manifest_text(text, file_name), reusing `cache`
// for documents seen in the previous call, and refilling it.
ParsedFile parse_manifest_text(const std::string& text, const std::string& file_name, DocumentCache& cache);

}  // namespace socklb
