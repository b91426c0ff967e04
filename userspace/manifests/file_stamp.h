#pragma once
// What tells, without reading it, that a manifest file may have changed: its
// identity, size and times. The reader re-parses a file only when its stamp
// changed, so a sync after one edit costs one file, not all of them.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <string>

namespace socklb {

struct FileStamp {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  bool operator==(const FileStamp&) const = default;
};

// nullopt when the file cannot be stat'ed (it is then read, and reported).
std::optional<FileStamp> stamp_of(const std::filesystem::path& file);

// Nanoseconds on the clock file times use (CLOCK_REALTIME).
int64_t file_clock_now_ns();

// A file written in the same clock tick as our read may change again without
// its stamp changing (coarse timestamps, same size, written in place): git's
// "racily clean" entries. Such a file is re-read and compared by content,
// unless a watcher that sees every write (the agent's inotify) says which
// files changed (ManifestReader::ChangedFiles).
inline constexpr int64_t kRacyWindowNs = 2'000'000'000;

// Of a file's text and of each document's: XXH3, as the whole text of every
// changed file is hashed at each read (a sixth of a change's CPU with
// std::hash, measured).
uint64_t content_hash(std::string_view text);

}  // namespace socklb
