// DocumentCache: parsing a file with it gives exactly what parsing it afresh
// gives (objects, lines, diagnostics), across edits that move documents.

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
    ParsedFile cached = parse_manifest_text(text, "m.yaml", cache);
    ParsedFile fresh = parse_manifest_text(text, "m.yaml");
    CHECK(summary(cached) == summary(fresh));
    // as the reader does: the result handed back, so the next parse takes
    // its unchanged documents from it
    cache.adopt(std::make_shared<const ManifestSet>(cached.objects));
  }
}

TEST_CASE("with the last result handed back, only changed documents are parsed") {
  DocumentCache cache;
  std::string two = service("a", 80) + "---\n" + service("b", 80);
  auto first = parse_manifest_text(two, "m.yaml", cache);
  CHECK(cache.parsed() == 2);
  cache.adopt(std::make_shared<const ManifestSet>(first.objects));
  parse_manifest_text(two, "m.yaml", cache);
  CHECK(cache.parsed() == 0);
  // not handed back: everything again
  parse_manifest_text(service("a", 80) + "---\n" + service("b", 81), "m.yaml", cache);
  CHECK(cache.parsed() == 2);
}

TEST_CASE("the cache holds the documents of the last parse only") {
  DocumentCache cache;
  parse_manifest_text(service("a", 80) + "---\n" + service("b", 80), "m.yaml", cache);
  CHECK(cache.size() == 2);
  parse_manifest_text(service("c", 80), "m.yaml", cache);
  CHECK(cache.size() == 1);
}
