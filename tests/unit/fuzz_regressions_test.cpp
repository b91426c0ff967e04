// Replays the fuzzer's inputs through its harness (tests/fuzz/manifest_harness.cpp)
// in every build: the committed seeds, the bad-input corpus, and every input
// that once made the fuzzer fail (tests/fuzz/regressions/), so a fixed bug
// stays fixed even where libFuzzer is not built.

#include <doctest/doctest.h>

#include <filesystem>
#include <iostream>

#include "bad_corpus.h"
#include "manifest_harness.h"

using namespace socklb::test;

TEST_CASE("the fuzzer's seeds and regressions pass its checks") {
  int inputs = 0, failed = 0;
  for (const char* sub : {"fuzz/seeds", "fuzz/regressions", "corpus/bad"}) {
    auto dir = std::filesystem::path(SOCKLB_TESTS_DIR) / sub;
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      std::string name = entry.path().filename().string();
      if (entry.path().extension() == ".expect" || name == "README.md" || name.front() == '.') continue;
      CAPTURE(entry.path().string());
      ++inputs;
      auto problems = socklb::fuzz::check_manifest_bytes(read_whole(entry.path()));
      for (const auto& p : problems) FAIL_CHECK(p);
      failed += !problems.empty();
    }
  }
  std::cout << "fuzz replay: " << inputs << " inputs (seeds, regressions, bad corpus), " << failed << " failed\n";
  CHECK(inputs > 0);
}
