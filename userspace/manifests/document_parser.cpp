#include "manifests/document_parser.h"

#include <sstream>

#include <yaml-cpp/depthguard.h>

#include "manifests/parse_objects.h"

namespace socklb {
namespace {

struct Document {
  std::string text;
  int first_line = 1;  // 1-based line of the document's first line in its file
};

// Splits at "---" lines. A marker at column 0 always ends a document in
// YAML (block scalars are indented), so a line scan is exact enough.
std::vector<Document> split_documents(const std::string& text) {
  std::vector<Document> docs(1);
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    bool marker = line.rfind("---", 0) == 0 && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
    if (marker) {
      docs.push_back({"", number});
      line.replace(0, 3, "   ");  // keep content after the marker, columns intact
    } else if (line == "..." || line == "...\r") {
      line.clear();
    }
    docs.back().text += line + "\n";
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
    if (core && kind == "Service") parse(doc, kind, where, parse_service, out_.objects.services);
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
    try {
      meta = parse_meta(doc, kind, where);
      into.push_back(parse_fn(doc, meta));
    } catch (const FieldError& e) {
      BrokenObject broken = salvage(doc, kind);
      std::string object = kind + (broken.name ? " " + broken.ns.value_or("default") + "/" + *broken.name : "");
      out_.objects.diagnostics.push_back(
          {Diagnostic::Severity::Error, {file_, e.line() ? e.line() : where.line}, object, e.field(), e.what()});
      out_.objects.broken.push_back(std::move(broken));
    }
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

ParsedFile parse_manifest_text(const std::string& text, const std::string& file_name) {
  ParsedFile out;
  Classifier classifier(file_name, out);
  for (const auto& doc : split_documents(text)) {
    YAML::Node node;
    try {
      node = YAML::Load(doc.text);
    } catch (const YAML::DeepRecursion& e) {
      // yaml-cpp says only "bad file" when it stops at its depth guard
      int line = doc.first_line + (e.mark.line >= 0 ? e.mark.line : 0);
      classifier.unreadable({file_name, line}, "invalid YAML: nested too deeply (the parser stops at about 500 levels)");
      continue;
    } catch (const YAML::Exception& e) {
      int line = doc.first_line + (e.mark.line >= 0 ? e.mark.line : 0);
      classifier.unreadable({file_name, line}, "invalid YAML: " + e.msg);
      continue;
    }
    if (!node.IsDefined() || node.IsNull()) continue;  // empty document
    if (!node.IsMap()) {
      classifier.unreadable({file_name, doc.first_line}, "a document must be a mapping (an object with kind and apiVersion)");
      continue;
    }
    classifier.add(Field(node, "", doc.first_line - 1));
  }
  return out;
}

}  // namespace socklb
