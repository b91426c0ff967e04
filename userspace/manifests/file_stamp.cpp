#include "manifests/file_stamp.h"

#include <sys/stat.h>
#include <time.h>

#include <string_view>

#include <xxhash.h>

namespace socklb {

std::optional<FileStamp> stamp_of(const std::filesystem::path& file) {
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;
  auto ns = [](const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; };
  return FileStamp{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
                   ns(st.st_mtim), ns(st.st_ctim)};
}

int64_t file_clock_now_ns() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

uint64_t content_hash(std::string_view text) { return XXH3_64bits(text.data(), text.size()); }

}  // namespace socklb
