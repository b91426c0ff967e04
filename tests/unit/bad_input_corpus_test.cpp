// The bad-input corpus (tests/corpus) through reader + reconcile + plan onto
// the fake map store, as the agent runs a sync: each case must give a clear
// error naming the file (and, where the document parses, the object and the
// field), leave the broken service serving its previous state, apply the
// valid changes of the same sync, and throw nothing.

#include <doctest/doctest.h>

#include <iostream>

#include "agent/syncer.h"
#include "bad_corpus.h"
#include "desired_helpers.h"
#include "fake_map_store.h"
#include "manifests/manifest_reader.h"
#include "served.h"
#include "temp_dir.h"

using namespace socklb;
using namespace socklb::test;

namespace {

const ServedBackends kBefore{{"10.96.0.10:80/TCP default/web", {"10.244.1.10:8080"}},
                     {"10.96.0.20:80/TCP default/api", {"10.244.2.10:8080"}}};
// web held at its previous state; api's new slice and the new service applied
const ServedBackends kAfterBadEdit{{"10.96.0.10:80/TCP default/web", {"10.244.1.10:8080"}},
                           {"10.96.0.20:80/TCP default/api", {"10.244.2.11:8080"}},
                           {"10.96.0.30:80/TCP default/fresh", {"10.244.3.10:8080"}}};

struct Tally {
  int cases = 0, errors_matched = 0, with_object_and_field = 0, file_and_line_only = 0, held = 0, neighbours_applied = 0,
      recovered = 0, exceptions = 0;
};

// The error lines a sync logs, as the agent prints them.
std::vector<const Diagnostic*> errors_of(const ManifestSet& read, const SyncResult& synced) {
  std::vector<const Diagnostic*> out;
  for (const auto* list : {&read.diagnostics, &synced.diagnostics})
    for (const auto& d : *list)
      if (d.severity == Diagnostic::Severity::Error) out.push_back(&d);
  return out;
}

const Diagnostic* find_error(const std::vector<const Diagnostic*>& errors, const std::vector<std::string>& fragments) {
  for (const auto* d : errors) {
    std::string line = d->str();
    if (std::all_of(fragments.begin(), fragments.end(), [&](const auto& f) { return line.find(f) != std::string::npos; }))
      return d;
  }
  return nullptr;
}

void run_case(const BadInput& input, Tally& tally) {
  CAPTURE(input.name);
  ++tally.cases;
  TempDir dir;
  FakeMapStore store;
  store.check_after_every_write(datapath_invariant_violations);
  Syncer syncer(store, settings());
  ManifestReader reader;
  const auto base = corpus_dir() / "base";
  dir.write("web.yaml", read_whole(base / "web.yaml"));
  dir.write("api.yaml", read_whole(base / "api.yaml"));
  syncer.sync(reader.read(dir.path()));
  REQUIRE(served_backends(store) == kBefore);

  dir.write("web.yaml", input.text);
  dir.write("api.yaml", read_whole(base / "api-next.yaml"));
  dir.write("fresh.yaml", read_whole(base / "fresh.yaml"));
  try {
    ManifestSet read = reader.read(dir.path());
    SyncResult synced = syncer.sync(read);
    auto errors = errors_of(read, synced);
    std::string logged;
    for (const auto* d : errors) logged += d->str() + "\n";
    CAPTURE(logged);
    REQUIRE(!input.expected_errors.empty());
    bool all_found = true;
    for (const auto& fragments : input.expected_errors) {
      const Diagnostic* d = find_error(errors, fragments);
      CHECK_MESSAGE(d, "no error containing all of: " << doctest::toString(fragments));
      if (!d) {
        all_found = false;
        continue;
      }
      CHECK(d->where.file == (dir.path() / "web.yaml").string());
      if (!d->object.empty() && !d->field.empty()) ++tally.with_object_and_field;
      else ++tally.file_and_line_only;
    }
    tally.errors_matched += all_found;
    ServedBackends now = served_backends(store);
    CHECK(now == kAfterBadEdit);
    tally.held += now.count("10.96.0.10:80/TCP default/web") && now.at("10.96.0.10:80/TCP default/web") == kBefore.at("10.96.0.10:80/TCP default/web");
    tally.neighbours_applied += now.count("10.96.0.30:80/TCP default/fresh") && now.at("10.96.0.20:80/TCP default/api") == std::vector<std::string>{"10.244.2.11:8080"};

    // fixed: the next sync serves the good version and reports nothing
    dir.write("web.yaml", read_whole(base / "web.yaml"));
    read = reader.read(dir.path());
    synced = syncer.sync(read);
    CHECK(errors_of(read, synced).empty());
    CHECK(served_backends(store) == kAfterBadEdit);
    tally.recovered += served_backends(store) == kAfterBadEdit;
  } catch (const std::exception& e) {
    ++tally.exceptions;
    FAIL_CHECK("the sync threw: " << e.what());
  }
  CHECK(store.violations().empty());
}

}  // namespace

TEST_CASE("every bad input gives a clear error, holds the broken service and applies its valid neighbours") {
  Tally tally;
  auto committed = committed_bad_inputs();
  CHECK(committed.size() >= 40);
  for (const auto& input : committed) run_case(input, tally);
  auto generated = generated_bad_inputs();
  for (const auto& input : generated) run_case(input, tally);

  std::cout << "bad-input corpus: " << tally.cases << " broken inputs (" << committed.size() << " committed, "
            << generated.size() << " generated): " << tally.errors_matched << " with the expected errors ("
            << tally.with_object_and_field << " naming file+object+field, " << tally.file_and_line_only
            << " file+line where no object parses), " << tally.held
            << " kept web's previous backend (held, or served from its valid endpoint), "
            << tally.neighbours_applied << " applied their valid neighbours, " << tally.recovered
            << " recovered when fixed, " << tally.exceptions << " crashes\n";
  CHECK(tally.errors_matched == tally.cases);
  CHECK(tally.held == tally.cases);
  CHECK(tally.neighbours_applied == tally.cases);
  CHECK(tally.recovered == tally.cases);
}
