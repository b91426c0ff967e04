// ManifestReader's parse cache: a read after one edit parses that file only,
// and never misses an edit (same size, same second, in place).

#include <doctest/doctest.h>

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

std::string file_name(int i) { return "f" + std::to_string(100 + i) + ".yaml"; }

int port_of(const ManifestSet& set, const std::string& name) {
  for (const auto& s : set.services)
    if (s.meta.name == name) return s.ports.at(0).port;
  return -1;
}

}  // namespace

TEST_CASE("after one edit only that file is parsed; the result is the same as a fresh read") {
  TempDir dir;
  for (int i = 0; i < 20; ++i) dir.write(file_name(i), service("s" + std::to_string(i), 80));
  ManifestReader reader;
  ManifestSet first = reader.read(dir.path());
  CHECK(reader.last_work().parsed == 20);
  REQUIRE(first.services.size() == 20);
  for (int i = 0; i < 20; ++i) CHECK(first.services[i].meta.name == "s" + std::to_string(i));  // name order, threads or not

  ManifestSet again = reader.read(dir.path());
  CHECK(reader.last_work().parsed == 0);
  CHECK(reader.last_work().reused == 20);
  CHECK(again.services.size() == 20);
  CHECK(again.files == 20);

  dir.write(file_name(7), service("s7", 81));  // same size, in place, within the same clock tick
  ManifestSet edited = reader.read(dir.path());
  CHECK(reader.last_work().parsed == 1);
  CHECK(port_of(edited, "s7") == 81);
  CHECK(edited.services.size() == 20);
  ManifestSet fresh = ManifestReader().read(dir.path());
  REQUIRE(fresh.services.size() == edited.services.size());
  for (std::size_t i = 0; i < fresh.services.size(); ++i) {
    CHECK(fresh.services[i].meta.name == edited.services[i].meta.name);
    CHECK(fresh.services[i].ports[0].port == edited.services[i].ports[0].port);
  }
}

TEST_CASE("a cached file that is removed, added or renamed is seen") {
  TempDir dir;
  dir.write("a.yaml", service("a", 80));
  dir.write("b.yaml", service("b", 80));
  ManifestReader reader;
  REQUIRE(reader.read(dir.path()).services.size() == 2);
  dir.remove("a.yaml");
  CHECK(reader.read(dir.path()).services.size() == 1);
  dir.write("c.yaml", service("c", 80));
  ManifestSet set = reader.read(dir.path());
  CHECK(set.services.size() == 2);
  CHECK(reader.last_work().parsed == 1);
  std::filesystem::rename(dir.path() / "c.yaml", dir.path() / "a.yaml");  // the name a had, c's content
  set = reader.read(dir.path());
  CHECK(port_of(set, "c") == 80);
  CHECK(port_of(set, "a") == -1);
}

TEST_CASE("diagnostics of an unchanged broken file are reported on every read") {
  TempDir dir;
  dir.write("bad.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 0}]}\n");
  ManifestReader reader;
  CHECK(reader.read(dir.path()).diagnostics.size() == 1);
  ManifestSet again = reader.read(dir.path());
  CHECK(reader.last_work().parsed == 0);
  CHECK(again.diagnostics.size() == 1);
  CHECK(again.broken.size() == 1);
}

TEST_CASE("a file over the size limit is refused, and read once it fits") {
  TempDir dir;
  dir.write("big.yaml", service("big", 80) + std::string(200, '#') + "\n");
  ManifestReader reader(ReaderLimits{150});
  ManifestSet set = reader.read(dir.path());
  CHECK(set.services.empty());
  CHECK(set.hold_everything);
  dir.write("big.yaml", service("big", 80));
  set = reader.read(dir.path());
  CHECK(set.services.size() == 1);
}

TEST_CASE("told what changed (inotify), the reader reads those files and trusts the others' stamps, however recent") {
  TempDir dir;
  for (int i = 0; i < 3; ++i) dir.write(file_name(i), service("s" + std::to_string(i), 80));
  ManifestReader reader;
  ManifestReader::ChangedFiles all{true, {}}, none;
  REQUIRE(reader.read_files(dir.path(), &all).files.size() == 3);
  CHECK(reader.last_work().read == 3);

  // written just now, but no watcher saw a change: not read again
  reader.read_files(dir.path(), &none);
  CHECK(reader.last_work().read == 0);
  CHECK(reader.last_work().reused == 3);
  // without a watcher, a write this recent may hide another: read again
  reader.read_files(dir.path());
  CHECK(reader.last_work().read == 3);
  CHECK(reader.last_work().parsed == 0);

  // same size, in place, within the same clock tick: the watcher names it
  dir.write(file_name(1), service("s1", 81));
  ManifestReader::ChangedFiles one{false, {manifest_path(dir.path() / file_name(1))}};
  auto files = reader.read_files(dir.path(), &one);
  CHECK(reader.last_work().read == 1);
  CHECK(reader.last_work().parsed == 1);
  REQUIRE(files.files.size() == 1);  // the named one only: the others are as they were
  CHECK(!files.complete);
  CHECK(port_of(files.files.at(0).second->flatten(), "s1") == 81);
}

TEST_CASE("told only of files it knows, the reader reads those and looks at nothing else, not even the directory") {
  TempDir dir;
  for (int i = 0; i < 3; ++i) dir.write(file_name(i), service("s" + std::to_string(i), 80));
  ManifestReader reader;
  ManifestReader::ChangedFiles all{true, {}};
  REQUIRE(reader.read_files(dir.path(), &all).files.size() == 3);

  // changes no watcher reported (the watcher is trusted: only the periodic
  // full resync, which says `all`, would see them)
  dir.write(file_name(0), service("s0", 8000));
  dir.write(file_name(9), service("s9", 80));
  dir.write(file_name(1), service("s1", 81));
  ManifestReader::ChangedFiles one{false, {manifest_path(dir.path() / file_name(1))}};
  auto named = reader.read_files(dir.path(), &one);
  CHECK_FALSE(named.complete);
  REQUIRE(named.files.size() == 1);
  CHECK(named.files[0].first == *one.files.begin());
  CHECK(port_of(named.files[0].second->flatten(), "s1") == 81);
  CHECK(reader.last_work().read == 1);

  // told `all`: the tree is listed, every stamp looked at
  auto whole = reader.read_files(dir.path(), &all);
  CHECK(whole.complete);
  ManifestSet set;
  for (const auto& [_, objects] : whole.files) set.append(objects->flatten());
  CHECK(set.services.size() == 4);
  CHECK(port_of(set, "s0") == 8000);
  CHECK(port_of(set, "s9") == 80);
}

TEST_CASE("a named file that is new or gone makes the reader list the tree; paths match however the root is spelled") {
  TempDir dir;
  dir.write("a.yaml", service("a", 80));
  dir.write("b.yaml", service("b", 80));
  ManifestReader reader;
  auto root = dir.path() / "." / "";  // ".../." and a trailing slash: listed paths are normal all the same
  ManifestReader::ChangedFiles all{true, {}};
  REQUIRE(reader.read_files(root, &all).files.size() == 2);
  auto named = [&](const std::string& file) {
    return ManifestReader::ChangedFiles{false, {manifest_path(dir.path() / file)}};
  };

  dir.write("b.yaml", service("b", 82));
  auto b = named("b.yaml");
  auto read = reader.read_files(root, &b);
  CHECK_FALSE(read.complete);  // the listing's path and the watcher's are the same string
  REQUIRE(read.files.size() == 1);

  dir.write("c.yaml", service("c", 80));
  auto c = named("c.yaml");
  read = reader.read_files(root, &c);
  CHECK(read.complete);
  CHECK(read.files.size() == 3);

  dir.remove("a.yaml");
  auto a = named("a.yaml");
  read = reader.read_files(root, &a);
  CHECK(read.complete);
  REQUIRE(read.files.size() == 2);
  CHECK(read.files[0].first == manifest_path(dir.path() / "b.yaml"));
}

TEST_CASE("a root with '..' after a symlink is read where the symlink leads, and named changes match it") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "real" / "sub");
  std::filesystem::create_directories(dir.path() / "real" / "m");
  dir.write("real/m/a.yaml", service("a", 80));
  std::filesystem::create_directory_symlink(dir.path() / "real" / "sub", dir.path() / "link");
  auto root = dir.path() / "link" / ".." / "m";  // real/m on disk; lexically, dir/m (which does not exist)
  ManifestReader reader;
  ManifestReader::ChangedFiles all{true, {}};
  auto read = reader.read_files(root, &all);
  REQUIRE(read.files.size() == 1);
  CHECK(port_of(read.files[0].second->flatten(), "a") == 80);

  dir.write("real/m/a.yaml", service("a", 81));
  ManifestReader::ChangedFiles a{false, {manifest_path(root / "a.yaml")}};
  read = reader.read_files(root, &a);
  CHECK_FALSE(read.complete);
  REQUIRE(read.files.size() == 1);
  CHECK(port_of(read.files[0].second->flatten(), "a") == 81);
}
