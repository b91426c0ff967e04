// libFuzzer target: the bytes of one manifest file through parse, reconcile,
// plan and apply (manifest_harness.cpp). Any check that fails aborts, so
// libFuzzer saves the input; scripts/fuzz.sh runs it.

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "manifest_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto problems = socklb::fuzz::check_manifest_bytes({reinterpret_cast<const char*>(data), size});
  if (problems.empty()) return 0;
  for (const auto& p : problems) std::fprintf(stderr, "manifest_fuzzer: %s\n", p.c_str());
  std::abort();
}
