#pragma once
// One manifest file's bytes through the whole control path: parse, then sync
// (reconcile, plan, apply) onto an in-memory map store that already serves a
// baseline, then sync the same input again. Shared by the libFuzzer target
// and by the unit test that replays the seeds and the regressions, so a
// crash found once is checked on every build, sanitized or not.

#include <string>
#include <string_view>
#include <vector>

namespace socklb::fuzz {

// What went wrong, one line each; empty when every check held. A crash or a
// sanitizer report inside is, of course, also a failure.
std::vector<std::string> check_manifest_bytes(std::string_view bytes);

// The file name every diagnostic of check_manifest_bytes() must carry.
inline constexpr const char* kInputFileName = "fuzz/input.yaml";

}  // namespace socklb::fuzz
