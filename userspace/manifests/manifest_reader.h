#pragma once
// Reads every *.yaml / *.yml file under a path (a file or a directory,
// recursively, in name order) into one ManifestSet.
//
// It remembers the last readable content of each file: when a file stops
// parsing (an editor mid-save, a typo), its last good objects stand in for
// the part that cannot be read, so nothing served from it is lost.
//
// It also remembers what each file parsed to, with the file's stamp (see
// file_stamp.h): a file whose stamp and content did not change is not parsed
// again, so a sync after one edit costs that file only, and in that file only
// the documents whose text changed (DocumentCache). Files that do need
// parsing are parsed on one thread per CPU, up to 8 (the first read of a
// large tree).

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "manifests/document_parser.h"
#include "manifests/file_stamp.h"
#include "manifests/manifest_set.h"

namespace socklb {

struct ReaderLimits {
  std::uintmax_t max_file_bytes = 64u << 20;
};

class ManifestReader {
 public:
  explicit ManifestReader(ReaderLimits limits = {}) : limits_(limits) {}

  // What one file holds: its valid and broken objects and its diagnostics,
  // document by document (a document unchanged since the last read is the
  // same pointer as then). When the file did not read cleanly, a last part
  // holds what is kept of its last readable version and the file's own
  // messages. The same pointer as last time when the file did not change.
  struct FileContent {
    std::vector<DocumentObjects> parts;
    bool hold_everything = false;  // its content is unknown: no service may be removed
    ManifestSet flatten() const;   // every part in one set (a copy), as one file
  };
  using FileObjects = std::shared_ptr<const FileContent>;

  // The files that changed since the last read, as a watcher of every
  // change (inotify) saw them: paths as manifest_path() gives them, or
  // `all` when it cannot tell (its queue overflowed, a directory moved).
  struct ChangedFiles {
    bool all = false;
    std::set<std::string> files;
    void add(const ChangedFiles& more);
  };

  // Throws std::runtime_error when root does not exist or cannot be listed.
  ManifestSet read(const std::filesystem::path& root);

  // File by file (paths as manifest_path() gives them), in name order,
  // without copying any object.
  struct FilesRead {
    std::vector<std::pair<std::string, FileObjects>> files;
    // Every manifest file under the root. When false, only the files the
    // watcher named, each known from the last read (all the others are
    // as they were).
    bool complete = true;
  };
  // With `changed` naming only files the last read listed and that are
  // still there: reads those and nothing else, not even the directory, so
  // a change costs what it touches however many files there are. Anything
  // else (`all`, a new or removed file) lists the tree: a file that is not
  // named is then read again only when its stamp changed; a write within a
  // clock tick of the last read is known from the watcher, not guessed from
  // the time (see file_stamp.h). Without `changed`, every stamp is checked.
  FilesRead read_files(const std::filesystem::path& root, const ChangedFiles* changed = nullptr);

  // What the last read() did: for the sync log and the tests.
  struct Work {
    std::size_t parsed = 0;  // files parsed
    std::size_t reused = 0;  // files whose previous parse still stood
    std::size_t read = 0;    // files read from disk (parsed, or found to hold what they held)
  };
  const Work& last_work() const { return work_; }

 private:
  using SharedSet = FileObjects;

  struct Cached {
    std::optional<FileStamp> stamp;
    int64_t read_at_ns = 0;           // when the stamp was taken, before reading
    std::optional<uint64_t> content;  // hash of the text; none when it could not be read
    SharedSet objects;                // what read() contributed for this file
  };
  struct Job;

  bool still_valid(const Cached& cached, const std::optional<FileStamp>& stamp) const;
  // The named files alone; nullopt when one is not a file the last listing
  // had, or is gone (then the tree is listed).
  std::optional<FilesRead> read_named(const ChangedFiles& changed);
  void run(std::vector<Job>& jobs);  // reads and parses them, updates the cache
  void load(Job& job) const;
  static void unreadable(Job& job, const std::string& message);  // reads and parses one file; runs on a worker thread
  SharedSet settle(const std::string& file, ParsedDocuments&& parsed);  // applies the last-good fallback

  ReaderLimits limits_;
  std::map<std::string, SharedSet> last_good_;    // file -> its objects (valid and broken) when it last read
  std::map<std::string, Cached> cache_;           // file -> its last parse
  std::map<std::string, DocumentCache> documents_;  // file -> its documents' parses
  bool listed_ = false;  // cache_ holds exactly the files of the last listing
  Work work_;
};

std::vector<std::filesystem::path> list_manifest_files(const std::filesystem::path& root);

// A manifest's path as the reader and the watcher both spell it: without
// "." components and repeated or trailing separators. ".." is kept: after a
// symlink it names another directory than lexically_normal() would make it.
std::string manifest_path(const std::filesystem::path& path);

}  // namespace socklb
