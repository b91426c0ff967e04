// ManifestSource: file changes as object events, and what they make dirty in
// the store: a change costs the objects it touches.

#include <doctest/doctest.h>

#include <algorithm>

#include "sources/manifest_source.h"
#include "store/object_store.h"
#include "temp_dir.h"

using namespace socklb;
using namespace socklb::test;

namespace {

std::string service(const std::string& name, const std::string& ip) {
  return "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name + "}\nspec: {clusterIP: " + ip +
         ", ports: [{port: 80}]}\n";
}

std::string slice(const std::string& service, const std::string& ip) {
  return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + service +
         "-1, labels: {kubernetes.io/service-name: " + service + "}}\naddressType: IPv4\nendpoints: [{addresses: [\"" +
         ip + "\"]}]\nports: [{port: 8080}]\n";
}

std::size_t count(const SourceUpdate& u, ObjectEvent::Type type) {
  return std::count_if(u.events.begin(), u.events.end(), [&](const ObjectEvent& e) { return e.type == type; });
}

}  // namespace

TEST_CASE("a file change becomes the events of its objects; only the objects that changed make services dirty") {
  TempDir dir;
  dir.write("services.yaml", service("a", "10.96.0.1") + service("b", "10.96.0.2"));
  dir.write("slices.yaml", slice("a", "10.244.0.1") + slice("b", "10.244.0.2"));
  ManifestSource source(dir.path());
  ObjectStore store;

  SourceUpdate first = source.read();
  CHECK(first.origins == 2);
  CHECK(count(first, ObjectEvent::Type::Upsert) == 4);
  store.apply(first);
  CHECK(store.take_dirty() == std::set<ServiceRef>{{"default", "a"}, {"default", "b"}});

  // nothing changed: nothing to say
  CHECK(source.read().empty());

  // one slice of the file changes: the file's objects are reported, b alone is dirty
  dir.write("slices.yaml", slice("a", "10.244.0.1") + slice("b", "10.244.0.9"));
  SourceUpdate change = source.read();
  store.apply(change);
  CHECK(store.take_dirty() == std::set<ServiceRef>{{"default", "b"}});
  CHECK(store.slices({"default", "b"}).at(0).object->endpoints.at(0).address.str() == "10.244.0.9");

  // a file removed: its objects are deleted
  dir.remove("slices.yaml");
  SourceUpdate gone = source.read();
  CHECK(count(gone, ObjectEvent::Type::Delete) == 2);
  store.apply(gone);
  CHECK(store.take_dirty() == std::set<ServiceRef>{{"default", "a"}, {"default", "b"}});
  CHECK(store.slices({"default", "a"}).empty());
}

TEST_CASE("an object defined twice in one file holds the services it concerns, with the error at its first line") {
  TempDir dir;
  dir.write("web.yaml", service("web", "10.96.0.1") + service("web", "10.96.0.2"));
  ManifestSource source(dir.path());
  ObjectStore store;
  SourceUpdate update = source.read();
  store.apply(update);
  CHECK(store.input_broken({"default", "web"}));
  bool reported = false;
  for (const auto& d : update.diagnostics)
    reported |= d.where.line == 2 && d.message.find("defined twice (again at") != std::string::npos;
  CHECK(reported);
}

TEST_CASE("the same object from two files is two instances: reconcile sees both") {
  TempDir dir;
  dir.write("one.yaml", service("web", "10.96.0.1"));
  dir.write("two.yaml", service("web", "10.96.0.1"));
  ManifestSource source(dir.path());
  ObjectStore store;
  store.apply(source.read());
  CHECK(store.services({"default", "web"}).size() == 2);
}

TEST_CASE("told by a watcher which file changed, the source reports that file's changes and keeps the others") {
  TempDir dir;
  dir.write("a.yaml", service("a", "10.96.0.1") + slice("a", "10.244.0.1"));
  dir.write("b.yaml", service("b", "10.96.0.2") + slice("b", "10.244.0.2"));
  ManifestSource source(dir.path());
  ObjectStore store;
  source.changed({.all = true});
  store.apply(source.read());
  store.take_dirty();

  dir.write("b.yaml", service("b", "10.96.0.2") + slice("b", "10.244.0.9"));
  dir.write("a.yaml", service("a", "10.96.0.1") + slice("a", "10.244.0.7"));  // no watcher saw it: not read
  source.changed({.files = {manifest_path(dir.path() / "b.yaml")}});
  SourceUpdate change = source.read();
  CHECK(change.origins == 2);  // every file known, only one read
  CHECK(count(change, ObjectEvent::Type::Upsert) == 1);
  CHECK(count(change, ObjectEvent::Type::Delete) == 0);
  store.apply(change);
  CHECK(store.take_dirty() == std::set<ServiceRef>{{"default", "b"}});
  CHECK(store.slices({"default", "b"}).at(0).object->endpoints.at(0).address.str() == "10.244.0.9");
  CHECK(store.slices({"default", "a"}).at(0).object->endpoints.at(0).address.str() == "10.244.0.1");

  // a named file that is gone: the tree is listed, its objects deleted
  dir.remove("a.yaml");
  source.changed({.files = {manifest_path(dir.path() / "a.yaml")}});
  SourceUpdate gone = source.read();
  CHECK(gone.origins == 1);
  CHECK(count(gone, ObjectEvent::Type::Delete) == 2);
  store.apply(gone);
  CHECK(store.slices({"default", "a"}).empty());
  CHECK(store.slices({"default", "b"}).size() == 1);
}
