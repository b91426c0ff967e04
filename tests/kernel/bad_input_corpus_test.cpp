// The bad-input corpus (tests/corpus) fed file by file into a running agent:
// it must log each error naming the file, keep running, and keep the broken
// service and its valid neighbour answering connects.

#include <doctest/doctest.h>

#include <algorithm>
#include <iostream>

#include "bad_corpus.h"
#include "expectations.h"

using namespace kt;

namespace {

// A diagnostic (an error one when severity says so) logged from output line
// `from` on whose text holds every fragment.
bool logged_after(const Testbed& node, std::size_t from, const std::vector<std::string>& fragments,
                  const std::string& severity = "") {
  for (const auto& text : node.diagnostics(from, severity))
    if (std::all_of(fragments.begin(), fragments.end(), [&](const auto& f) { return text.find(f) != std::string::npos; }))
      return true;
  return false;
}

}  // namespace

TEST_CASE("a running agent survives every bad input, names the file and keeps serving") {
  using socklb::test::corpus_dir;
  using socklb::test::read_whole;
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.2.10:8080"});
  const std::string good_web = read_whole(corpus_dir() / "base" / "web.yaml");
  node.write_manifest("web.yaml", good_web);
  node.write_manifest("api.yaml", read_whole(corpus_dir() / "base" / "api.yaml"));
  node.start_agent();
  const std::map<std::string, int> web_answers{{"10.244.1.10:8080", 2}}, api_answers{{"10.244.2.10:8080", 2}};
  REQUIRE(count_by_backend(node.connect("10.96.0.10:80", {.count = 2})) == web_answers);

  auto inputs = socklb::test::committed_bad_inputs();
  for (auto& generated : socklb::test::generated_bad_inputs()) inputs.push_back(std::move(generated));
  int fed = 0, named = 0, alive = 0, web_kept = 0, api_kept = 0;
  for (const auto& input : inputs) {
    CAPTURE(input.name);
    ++fed;
    std::size_t before = node.agent().lines().size();
    node.apply("web.yaml", input.text);
    bool all_logged = true;
    for (const auto& fragments : input.expected_errors) {
      bool found = logged_after(node, before, fragments) &&
                   logged_after(node, before, {(node.manifests() / "web.yaml").string()}, "error");
      CHECK_MESSAGE(found, "not logged: " << doctest::toString(fragments) << "\nagent output since:\n"
                                          << [&] {
                                               std::string out;
                                               auto lines = node.agent().lines();
                                               for (std::size_t i = before; i < lines.size(); ++i) out += lines[i] + "\n";
                                               return out;
                                             }());
      all_logged &= found;
    }
    named += all_logged;
    bool running = node.agent().running();
    CHECK(running);
    alive += running;
    if (!running) break;
    auto web = count_by_backend(node.connect("10.96.0.10:80", {.count = 2}));
    auto api = count_by_backend(node.connect("10.96.0.20:80", {.count = 2}));
    CHECK(web == web_answers);
    CHECK(api == api_answers);
    web_kept += web == web_answers;
    api_kept += api == api_answers;
    node.apply("web.yaml", good_web);  // back to the good version before the next case
  }
  std::cout << "bad-input agent: " << fed << " broken files fed to a running agent: " << named
            << " errors logged naming the file, agent alive after " << alive << ", web (held) answered after " << web_kept
            << ", api (valid neighbour) answered after " << api_kept << "\n";
  CHECK(fed == static_cast<int>(inputs.size()));
  CHECK(named == fed);
  CHECK(web_kept == fed);
  CHECK(api_kept == fed);
}
