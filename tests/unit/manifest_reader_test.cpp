// ManifestReader over a throwaway directory: file selection and the per-file
// last-good cache that keeps a half-saved file from dropping services.

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "manifests/manifest_reader.h"
#include "temp_dir.h"

using namespace socklb;
using socklb::test::TempDir;

namespace {

std::string service(const std::string& name, int port) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + "}\nspec: {clusterIP: 10.96.0.1, ports: [{port: " +
         std::to_string(port) + "}]}\n";
}

const std::string kInvalidYaml = "apiVersion: v1\nkind: Service\nmetadata: {name: broken\n";

const Service* find(const ManifestSet& set, const std::string& name) {
  auto it = std::find_if(set.services.begin(), set.services.end(), [&](const Service& s) { return s.meta.name == name; });
  return it == set.services.end() ? nullptr : &*it;
}

bool has_error(const ManifestSet& set) {
  return std::any_of(set.diagnostics.begin(), set.diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::Error; });
}

}  // namespace

TEST_CASE("only *.yaml and *.yml files are read, recursively, in name order") {
  TempDir dir;
  dir.write("b.yaml", service("b", 80));
  dir.write("a.yml", service("a", 80));
  dir.write("sub/deeper/c.yaml", service("c", 80));
  dir.write("notes.txt", kInvalidYaml);
  dir.write("d.json", kInvalidYaml);
  dir.write("yaml", kInvalidYaml);
  dir.write("e.yaml.bak", kInvalidYaml);

  auto files = list_manifest_files(dir.path());
  REQUIRE(files.size() == 3);
  CHECK(files[0].filename() == "a.yml");
  CHECK(files[1].filename() == "b.yaml");
  CHECK(files[2].filename() == "c.yaml");

  ManifestReader reader;
  ManifestSet set = reader.read(dir.path());
  CHECK(set.files == 3);
  REQUIRE(set.services.size() == 3);
  CHECK(set.services[0].meta.name == "a");
  CHECK(set.services[2].meta.where.file == (dir.path() / "sub/deeper/c.yaml").string());
  CHECK_FALSE(set.hold_everything);
  CHECK(set.diagnostics.empty());
}

TEST_CASE("a single file can be the root; a missing root throws") {
  TempDir dir;
  dir.write("one.yaml", service("one", 80));
  ManifestReader reader;
  CHECK(reader.read(dir.path() / "one.yaml").services.size() == 1);
  CHECK_THROWS_AS(reader.read(dir.path() / "missing"), std::runtime_error);
  CHECK_THROWS_AS(list_manifest_files(dir.path() / "missing"), std::runtime_error);
}

TEST_CASE("a file that becomes invalid YAML keeps its last good objects; its valid documents still apply") {
  TempDir dir;
  ManifestReader reader;
  dir.write("svc.yaml", service("a", 80) + "---\n" + service("b", 80) + "---\n" + service("c", 80));
  dir.write("other.yaml", service("other", 80));
  REQUIRE(reader.read(dir.path()).services.size() == 4);

  // a changes, b is half-saved, c is gone from the readable part
  dir.write("svc.yaml", service("a", 81) + "---\n" + kInvalidYaml);
  ManifestSet set = reader.read(dir.path());
  CHECK_FALSE(set.hold_everything);
  CHECK(has_error(set));
  REQUIRE(find(set, "a"));
  CHECK(find(set, "a")->ports[0].port == 81);  // the readable document wins
  REQUIRE(find(set, "b"));
  CHECK(find(set, "b")->ports[0].port == 80);  // from the last good version
  CHECK(find(set, "c"));                       // it may be what cannot be read now
  CHECK(find(set, "other"));
  CHECK(set.services.size() == 4);

  // still broken: the cache is the first good version, not the mix above
  dir.write("svc.yaml", kInvalidYaml);
  set = reader.read(dir.path());
  REQUIRE(find(set, "a"));
  CHECK(find(set, "a")->ports[0].port == 80);
  CHECK(set.services.size() == 4);

  // readable again: exactly what it says now
  dir.write("svc.yaml", service("a", 82));
  set = reader.read(dir.path());
  CHECK(set.services.size() == 2);
  REQUIRE(find(set, "a"));
  CHECK(find(set, "a")->ports[0].port == 82);
  CHECK_FALSE(find(set, "b"));
  CHECK_FALSE(has_error(set));
}

TEST_CASE("a file invalid from its first read holds everything") {
  TempDir dir;
  dir.write("good.yaml", service("good", 80));
  dir.write("bad.yaml", kInvalidYaml);
  ManifestReader reader;
  ManifestSet set = reader.read(dir.path());
  CHECK(set.hold_everything);
  CHECK(set.services.size() == 1);

  dir.write("bad.yaml", service("fixed", 80));
  set = reader.read(dir.path());
  CHECK_FALSE(set.hold_everything);
  CHECK(set.services.size() == 2);
}

TEST_CASE("an invalid object in valid YAML is broken, not restored from the cache") {
  TempDir dir;
  ManifestReader reader;
  dir.write("svc.yaml", service("a", 80));
  REQUIRE(reader.read(dir.path()).services.size() == 1);
  dir.write("svc.yaml", service("a", 0));
  ManifestSet set = reader.read(dir.path());
  CHECK(set.services.empty());
  REQUIRE(set.broken.size() == 1);
  CHECK(set.broken[0].name == "a");
  CHECK_FALSE(set.hold_everything);  // the reconciler holds just this service
}

TEST_CASE("a deleted file drops its cache") {
  TempDir dir;
  ManifestReader reader;
  dir.write("svc.yaml", service("a", 80));
  REQUIRE(reader.read(dir.path()).services.size() == 1);

  dir.remove("svc.yaml");
  ManifestSet set = reader.read(dir.path());
  CHECK(set.services.empty());
  CHECK(set.files == 0);

  // back, but unreadable: its old content must not come back from the cache
  dir.write("svc.yaml", kInvalidYaml);
  set = reader.read(dir.path());
  CHECK(set.services.empty());
  CHECK(set.hold_everything);
}

TEST_CASE("a file over the size limit is unreadable and keeps its last good objects") {
  TempDir dir;
  dir.write("svc.yaml", service("a", 80));
  ManifestReader reader(ReaderLimits{200});
  REQUIRE(reader.read(dir.path()).services.size() == 1);
  dir.write("svc.yaml", service("a", 81) + "# " + std::string(300, 'x') + "\n");
  ManifestSet set = reader.read(dir.path());
  REQUIRE(set.services.size() == 1);
  CHECK(set.services[0].ports[0].port == 80);
  CHECK(has_error(set));
  CHECK_FALSE(set.hold_everything);
}

TEST_CASE("the broken objects of the last readable version come back with it") {
  TempDir dir;
  ManifestReader reader;
  dir.write("svc.yaml", service("a", 80) + "---\n" + service("b", 0));
  ManifestSet set = reader.read(dir.path());
  REQUIRE(set.broken.size() == 1);

  dir.write("svc.yaml", service("a", 80) + "---\n" + kInvalidYaml);
  set = reader.read(dir.path());
  REQUIRE(set.broken.size() == 1);  // b may be what cannot be read: it still holds its service
  CHECK(set.broken[0].name == "b");
  CHECK(set.services.size() == 1);

  dir.write("svc.yaml", service("a", 80) + "---\n" + service("b", 0) + "---\n" + kInvalidYaml);
  set = reader.read(dir.path());
  CHECK(set.broken.size() == 1);  // read now and in the cache: once
}
