// DocumentCache: parsing a file with it gives exactly what parsing it afresh
// gives (objects, lines, diagnostics), across edits that move documents; an
// unchanged document in its place is the very same objects.

#include <doctest/doctest.h>

#include <string>

#include "manifests/document_parser.h"

using namespace socklb;

namespace {

std::string service(const std::string& name, int port, const std::string& extra = "") {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n" + extra +
         "spec:\n  clusterIP: 10.96.0.1\n  ports:\n  - port: " + std::to_string(port) + "\n";
}

const std::string kBrokenObject = "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 0}]}\n";
const std::string kInvalidYaml = "apiVersion: v1\nkind: Service\nmetadata: {name: broken\n";

ParsedFile flat(const ParsedDocuments& documents) {
  ParsedFile out;
  out.unreadable = documents.unreadable;
  for (const auto& d : documents.documents) {
    ManifestSet copy = *d;
    out.objects.append(std::move(copy));
  }
  return out;
}

std::string summary(const ParsedFile& p) {
  std::string out = p.unreadable ? "unreadable\n" : "";
  for (const auto& s : p.objects.services)
    out += s.meta.name + "@" + std::to_string(s.meta.where.line) + ":" + std::to_string(s.ports[0].port) + "\n";
  for (const auto& b : p.objects.broken) out += "broken " + b.name.value_or("?") + "\n";
  for (const auto& d : p.objects.diagnostics) out += d.str() + "\n";
  for (const auto& [kind, n] : p.objects.ignored_kinds) out += kind + "x" + std::to_string(n) + "\n";
  return out;
}

}  // namespace

TEST_CASE("a cached parse equals a fresh parse, edit after edit") {
  const std::string config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
  const std::string versions[] = {
      service("a", 80) + "---\n" + service("b", 80) + "---\n" + kBrokenObject + "---\n" + service("c", 80),
      service("a", 80, "  namespace: default\n  labels: {x: y}\n") + "---\n" + service("b", 80) + "---\n" + kBrokenObject +
          "---\n" + service("c", 80),                          // lines added above: everything below moves
      service("b", 80) + "---\n" + kInvalidYaml + "---\n" + service("c", 81) + "---\n" + config,  // a removed, c changed
      service("b", 80) + "---\n" + service("b", 80) + "---\n" + service("c", 81),                // the same text twice
      "",
      service("c", 81),
  };
  DocumentCache cache;
  for (const auto& text : versions) {
    CAPTURE(text);
    ParsedFile cached = flat(parse_manifest_documents(text, "m.yaml", cache));
    ParsedFile fresh = parse_manifest_text(text, "m.yaml");
    CHECK(summary(cached) == summary(fresh));
  }
}

TEST_CASE("only changed documents are parsed; unchanged ones in their place are the same objects") {
  DocumentCache cache;
  std::string two = service("a", 80) + "---\n" + service("b", 80);
  auto first = parse_manifest_documents(two, "m.yaml", cache);
  CHECK(cache.parsed() == 2);
  REQUIRE(first.documents.size() == 2);
  auto again = parse_manifest_documents(two, "m.yaml", cache);
  CHECK(cache.parsed() == 0);
  CHECK(again.documents == first.documents);
  // b changed (same number of lines): a is the same pointer, b a new one
  auto edited = parse_manifest_documents(service("a", 80) + "---\n" + service("b", 81), "m.yaml", cache);
  CHECK(cache.parsed() == 1);
  REQUIRE(edited.documents.size() == 2);
  CHECK(edited.documents[0] == first.documents[0]);
  CHECK(edited.documents[1] != first.documents[1]);
  // a line added above b: b is not parsed again, but its objects move (a copy)
  auto moved = parse_manifest_documents(service("a", 80, "  namespace: default\n") + "---\n" + service("b", 81), "m.yaml",
                                        cache);
  CHECK(cache.parsed() == 1);
  CHECK(moved.documents[1] != edited.documents[1]);
  CHECK(moved.documents[1]->services.at(0).meta.where.line == edited.documents[1]->services.at(0).meta.where.line + 1);
}

TEST_CASE("the cache holds the documents of the last parse only") {
  DocumentCache cache;
  parse_manifest_documents(service("a", 80) + "---\n" + service("b", 80), "m.yaml", cache);
  CHECK(cache.size() == 2);
  parse_manifest_documents(service("c", 80), "m.yaml", cache);
  CHECK(cache.size() == 1);
}
