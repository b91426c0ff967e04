#pragma once
// Parses the text of one YAML file into typed objects, one document at a
// time, so a broken document does not hide the valid ones around it.

#include <cstdint>
#include <string>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

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

// One document's objects, as they stand in their file (lines counted from
// the file's start), with its broken objects, messages and ignored kinds.
// Shared: a file read again with this document unchanged, at the same line,
// gets the same pointer, so what follows (the object store) can tell it
// apart from a changed one without comparing anything.
using DocumentObjects = std::shared_ptr<const ManifestSet>;

// A file's documents, in file order.
struct ParsedDocuments {
  std::vector<DocumentObjects> documents;
  // A document could not be parsed or classified: what it held is unknown.
  bool unreadable = false;
};

// What each document of one file parsed to, by the document's text: a file
// rewritten with one document changed (one EndpointSlice among a thousand)
// parses that document only, and the others are the very same objects.
class DocumentCache {
 public:
  std::size_t size() const { return by_text_.size(); }
  std::size_t parsed() const { return parsed_; }  // documents the last parse had to parse

 private:
  friend ParsedDocuments parse_manifest_documents(const std::string&, const std::string&, DocumentCache&);
  struct Entry {
    DocumentObjects objects;
    int first_line = 1;  // where the document began: its objects' lines count from the file's start
    bool unreadable = false;
  };
  std::unordered_map<uint64_t, Entry> by_text_;
  std::size_t parsed_ = 0;
};

// The documents of `text`, reusing `cache` for documents seen in the
// previous call (same text; at another line, a copy with the lines moved),
// and refilling it. Together they hold what parse_manifest_text(text,
// file_name) gives.
ParsedDocuments parse_manifest_documents(const std::string& text, const std::string& file_name, DocumentCache& cache);

}  // namespace socklb
