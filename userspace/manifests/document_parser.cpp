#include "manifests/document_parser.h"

#include <algorithm>
#include <string_view>

#include "manifests/file_stamp.h"
#include "manifests/parse_objects.h"

namespace socklb {
namespace {

struct Document {
  std::string_view text;  // into the file's text, or into `rewritten`
  int first_line = 1;     // 1-based line of the document's first line in its file
  std::string rewritten;  // when its text could not be used as it stands
};

bool is_marker(std::string_view line) {
  return line.substr(0, 3) == "---" && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
}

bool is_end(std::string_view line) { return line == "..." || line == "...\r"; }

// Splits at "---" lines. A marker at column 0 always ends a document in
// YAML (block scalars are indented), so a line scan is exact enough. A
// document is a view of the file's text (a bare "---" line starts it, as
// YAML reads it), unless its marker line carries content or it has "..."
// lines: then a copy in which the marker is blanked (columns intact) and
// "..." lines are empty, so line numbers stay the file's.
std::vector<Document> split_documents(const std::string& text) {
  struct Region {
    std::size_t begin, end;
    int first_line;
    bool rewrite;
  };
  std::vector<Region> regions{{0, 0, 1, false}};
  int number = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line(text.data() + pos, end - pos);
    ++number;
    if (is_marker(line)) {
      regions.back().end = pos;
      regions.push_back({pos, 0, number, line != "---"});
    } else if (is_end(line)) {
      regions.back().rewrite = true;
    }
    pos = end + 1;
  }
  regions.back().end = text.size();

  std::vector<Document> docs(regions.size());
  for (std::size_t i = 0; i < regions.size(); ++i) {
    const Region& r = regions[i];
    Document& doc = docs[i];
    doc.first_line = r.first_line;
    std::string_view region(text.data() + r.begin, r.end - r.begin);
    if (!r.rewrite) {
      doc.text = region;
      continue;
    }
    for (std::size_t pos = 0; pos < region.size();) {
      std::size_t end = std::min(region.find('\n', pos), region.size());
      std::string_view line = region.substr(pos, end - pos);
      if (pos == 0 && is_marker(line)) doc.rewritten.append("   ").append(line.substr(3));  // content after the marker
      else if (!is_end(line)) doc.rewritten.append(line);
      doc.rewritten.push_back('\n');
      pos = end + 1;
    }
    doc.text = doc.rewritten;  // docs is not resized from here on
  }
  return docs;
}

class Classifier {
 public:
  Classifier(const std::string& file, ParsedFile& out) : file_(file), out_(out) {}

  void add(const Field& doc) {
    SourceLocation where{file_, doc.line()};
    std::string kind, api;
    try {
      kind = doc["kind"].str();
      api = doc["apiVersion"].str();
    } catch (const FieldError& e) {
      unreadable({file_, e.line() ? e.line() : where.line},
                 e.field() + ": " + e.what() + " (cannot tell what this document is)");
      return;
    }
    if (kind == "List" && api == "v1") {
      std::vector<Field> items;
      try {
        items = doc["items"].items();
      } catch (const FieldError& e) {  // not a list: what the List holds is unknown
        unreadable({file_, e.line() ? e.line() : where.line}, e.field() + ": " + e.what());
        return;
      }
      for (const auto& item : items) add(item);
      return;
    }
    bool core = api == "v1";
    auto service = [](const Field& d, ObjectMeta meta, Diagnostics&) { return parse_service(d, std::move(meta)); };
    if (core && kind == "Service") parse(doc, kind, where, service, out_.objects.services);
    else if (core && kind == "Endpoints") parse(doc, kind, where, parse_endpoints, out_.objects.endpoints);
    else if (core && kind == "Pod") parse(doc, kind, where, parse_pod, out_.objects.pods);
    else if (api == "discovery.k8s.io/v1" && kind == "EndpointSlice")
      parse(doc, kind, where, parse_endpoint_slice, out_.objects.slices);
    else if (kind == "Service" || kind == "Endpoints" || kind == "Pod" || kind == "EndpointSlice")
      warn(where, kind + " of apiVersion " + api + " is not supported (use v1, or discovery.k8s.io/v1 for EndpointSlice)");
    else
      ++out_.objects.ignored_kinds[kind];
  }

  void unreadable(const SourceLocation& where, const std::string& message) {
    out_.unreadable = true;
    out_.objects.diagnostics.push_back({Diagnostic::Severity::Error, where, "", "", message});
  }

 private:
  template <typename Object, typename ParseFn>
  void parse(const Field& doc, const std::string& kind, const SourceLocation& where, ParseFn parse_fn,
             std::vector<Object>& into) {
    ObjectMeta meta;
    Diagnostics notes;  // kept also when the object then turns out broken: they still need fixing
    try {
      meta = parse_meta(doc, kind, where);
      into.push_back(parse_fn(doc, meta, notes));
      append_notes(notes);
    } catch (const FieldError& e) {
      append_notes(notes);
      BrokenObject broken = salvage(doc, kind);
      std::string object = kind + (broken.name ? " " + broken.ns.value_or("default") + "/" + *broken.name : "");
      out_.objects.diagnostics.push_back(
          {Diagnostic::Severity::Error, {file_, e.line() ? e.line() : where.line}, object, e.field(), e.what()});
      out_.objects.broken.push_back(std::move(broken));
    }
  }

  void append_notes(Diagnostics& notes) {
    auto& all = out_.objects.diagnostics;
    all.insert(all.end(), std::make_move_iterator(notes.begin()), std::make_move_iterator(notes.end()));
  }

  void warn(const SourceLocation& where, const std::string& message) {
    out_.objects.diagnostics.push_back({Diagnostic::Severity::Warning, where, "", "", message});
  }

  // What can still be known of an object whose validation failed.
  static BrokenObject salvage(const Field& doc, const std::string& kind) {
    BrokenObject broken{kind, std::nullopt, std::nullopt, std::nullopt};
    auto attempt = [](auto fn) {
      try {
        fn();
      } catch (const FieldError&) {
      }
    };
    Field metadata = doc["metadata"];
    attempt([&] { broken.ns = metadata["namespace"].str_or("default"); });
    attempt([&] { broken.name = metadata["name"].str(); });
    attempt([&] {
      Labels labels;
      for (const auto& [key, value] : metadata["labels"].entries()) labels[key] = value.str();
      broken.labels = std::move(labels);
    });
    return broken;
  }

  const std::string& file_;
  ParsedFile& out_;
};

}  // namespace

namespace {

void parse_document(const Document& doc, const std::string& file_name, Classifier& classifier) {
  YamlDocumentPtr yaml;
  try {
    yaml = load_yaml_document(doc.text);
  } catch (const YamlSyntaxError& e) {
    classifier.unreadable({file_name, doc.first_line + e.line()}, std::string("invalid YAML: ") + e.what());
    return;
  }
  const YamlNode* node = yaml->root();
  if (!node || node->type == YamlNode::Type::Null) return;  // empty document
  if (node->type != YamlNode::Type::Map) {
    classifier.unreadable({file_name, doc.first_line}, "a document must be a mapping (an object with kind and apiVersion)");
    return;
  }
  classifier.add(Field(node, "", doc.first_line - 1));
}

// Moves every location of a parse `lines` further down its file.
void shift_lines(ManifestSet& set, int lines) {
  auto shift = [&](auto& objects) {
    for (auto& o : objects) o.meta.where.line += lines;
  };
  shift(set.services);
  shift(set.slices);
  shift(set.endpoints);
  shift(set.pods);
  for (auto& d : set.diagnostics)
    if (d.where.line > 0) d.where.line += lines;
}

}  // namespace

ParsedFile parse_manifest_text(const std::string& text, const std::string& file_name) {
  ParsedFile out;
  Classifier classifier(file_name, out);
  for (const auto& doc : split_documents(text)) parse_document(doc, file_name, classifier);
  return out;
}

ParsedFile parse_object_tree(const YamlNode& root, const std::string& origin) {
  ParsedFile out;
  Classifier classifier(origin, out);
  if (root.type != YamlNode::Type::Map) classifier.unreadable({origin, 0}, "an object must be a mapping");
  else classifier.add(Field(&root, "", -1));  // no lines: messages name the object and field
  return out;
}

ParsedDocuments parse_manifest_documents(const std::string& text, const std::string& file_name, DocumentCache& cache) {
  ParsedDocuments out;
  std::vector<Document> docs = split_documents(text);
  std::unordered_map<uint64_t, DocumentCache::Entry> seen;
  seen.reserve(docs.size());
  out.documents.reserve(docs.size());
  cache.parsed_ = 0;
  for (auto& doc : docs) {
    uint64_t key = content_hash(doc.text);
    DocumentCache::Entry entry;
    auto earlier = seen.find(key);  // the same text earlier in this file
    auto cached = cache.by_text_.find(key);
    const DocumentCache::Entry* same = earlier != seen.end() ? &earlier->second
                                       : cached != cache.by_text_.end() ? &cached->second
                                                                         : nullptr;
    if (same && same->first_line == doc.first_line) {
      entry = *same;
    } else if (same) {
      // the same text at another line: the same objects, their lines moved
      ManifestSet moved = *same->objects;
      shift_lines(moved, doc.first_line - same->first_line);
      entry = {std::make_shared<const ManifestSet>(std::move(moved)), doc.first_line, same->unreadable};
    } else {
      ParsedFile one;  // parsed as if the document began the file
      Classifier classifier(file_name, one);
      parse_document({doc.text, 1, {}}, file_name, classifier);
      ++cache.parsed_;
      shift_lines(one.objects, doc.first_line - 1);
      entry = {std::make_shared<const ManifestSet>(std::move(one.objects)), doc.first_line, one.unreadable};
    }
    out.unreadable = out.unreadable || entry.unreadable;
    out.documents.push_back(entry.objects);
    seen.emplace(key, std::move(entry));
  }
  cache.by_text_ = std::move(seen);
  return out;
}

}  // namespace socklb
