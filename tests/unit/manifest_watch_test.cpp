// ManifestWatch: which inotify events are worth a sync, and which files they
// name for the reader (the files it then need not trust by stamp alone).

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "agent/manifest_watch.h"
#include "temp_dir.h"

using namespace socklb;
using socklb::test::TempDir;

namespace {

std::string normal(const std::filesystem::path& p) { return manifest_path(p); }

}  // namespace

TEST_CASE("the watch names the manifests written or renamed into place; a new directory or symlink means all") {
  TempDir dir;
  dir.write("a.yaml", "x: 1\n");
  ManifestWatch watch(dir.path());
  CHECK_FALSE(watch.drain().relevant);

  dir.write("a.yaml", "x: 2\n");  // IN_CLOSE_WRITE
  {
    std::ofstream tmp(dir.path() / ".b.yaml.tmp");
    tmp << "x: 3\n";
  }
  std::filesystem::rename(dir.path() / ".b.yaml.tmp", dir.path() / "b.yaml");  // IN_MOVED_FROM a temp, IN_MOVED_TO
  ManifestWatch::Changes changes = watch.drain();
  CHECK(changes.relevant);
  CHECK_FALSE(changes.files.all);
  CHECK(changes.files.files == std::set<std::string>{normal(dir.path() / "a.yaml"), normal(dir.path() / "b.yaml")});

  dir.write("notes.txt", "not a manifest\n");
  changes = watch.drain();
  CHECK_FALSE(changes.relevant);
  CHECK_FALSE(changes.files.all);

  std::filesystem::create_directory(dir.path() / "more");
  changes = watch.drain();
  CHECK(changes.relevant);
  CHECK(changes.files.all);

  std::filesystem::create_directory_symlink(dir.path() / "more", dir.path() / "..data_tmp");
  std::filesystem::rename(dir.path() / "..data_tmp", dir.path() / "..data");
  changes = watch.drain();
  CHECK(changes.files.all);
}

TEST_CASE("a file created in place is named at once but synced at its close; a hard link or a symlink at once") {
  TempDir dir;
  TempDir elsewhere;
  elsewhere.write("c.yaml", "x: 1\n");
  ManifestWatch watch(dir.path());

  std::ofstream writing(dir.path() / "a.yaml");  // created, still being written
  writing << "x: 1\n" << std::flush;
  ManifestWatch::Changes changes = watch.drain();
  CHECK_FALSE(changes.relevant);  // its close asks for the sync
  CHECK(changes.files.files == std::set<std::string>{normal(dir.path() / "a.yaml")});
  writing.close();
  changes = watch.drain();
  CHECK(changes.relevant);
  CHECK(changes.files.files == std::set<std::string>{normal(dir.path() / "a.yaml")});

  std::filesystem::create_hard_link(elsewhere.path() / "c.yaml", dir.path() / "b.yaml");  // no close follows
  changes = watch.drain();
  CHECK(changes.relevant);
  CHECK(changes.files.files == std::set<std::string>{normal(dir.path() / "b.yaml")});

  std::filesystem::create_symlink(elsewhere.path() / "c.yaml", dir.path() / "c.yaml");
  changes = watch.drain();
  CHECK(changes.relevant);
  CHECK(changes.files.files == std::set<std::string>{normal(dir.path() / "c.yaml")});

  // `ln -sfn`: a symlink that is no manifest, made in place, not renamed
  std::filesystem::create_directory_symlink(elsewhere.path(), dir.path() / "..data");
  changes = watch.drain();
  CHECK(changes.relevant);
  CHECK(changes.files.all);
}
