#include "manifests/manifest_set.h"

#include <algorithm>
#include <iterator>

namespace socklb {

void ManifestSet::append(ManifestSet&& other) {
  auto move_all = [](auto& into, auto& from) { std::move(from.begin(), from.end(), std::back_inserter(into)); };
  move_all(services, other.services);
  move_all(slices, other.slices);
  move_all(endpoints, other.endpoints);
  move_all(pods, other.pods);
  move_all(broken, other.broken);
  move_all(diagnostics, other.diagnostics);
  hold_everything = hold_everything || other.hold_everything;
  files += other.files;
  for (const auto& [kind, count] : other.ignored_kinds) ignored_kinds[kind] += count;
}

}  // namespace socklb
