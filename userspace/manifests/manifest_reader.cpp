#include "manifests/manifest_reader.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <iterator>
#include <thread>
#include <fstream>
#include <set>
#include <stdexcept>
#include <tuple>

#include "manifests/document_parser.h"

namespace socklb {
namespace fs = std::filesystem;
namespace {

bool is_manifest(const fs::path& p) { return p.extension() == ".yaml" || p.extension() == ".yml"; }

using Identity = std::tuple<std::string, std::string, std::string>;  // kind, namespace, name

template <typename Object>
void add_missing(std::vector<Object>& into, const std::vector<Object>& previous, std::set<Identity>& present) {
  for (const auto& object : previous)
    if (present.insert({object.meta.kind, object.meta.ns, object.meta.name}).second) into.push_back(object);
}

// A file with an unreadable part: what reads now stands, and every object of
// its last good version that is not among it is kept (returned).
ManifestSet kept_from_previous(const std::vector<DocumentObjects>& now, const ManifestReader::FileContent& previous) {
  std::set<Identity> present;
  auto note = [&](const auto& objects) {
    for (const auto& o : objects) present.insert({o.meta.kind, o.meta.ns, o.meta.name});
  };
  for (const auto& part : now) {
    note(part->services);
    note(part->slices);
    note(part->endpoints);
    note(part->pods);
    for (const auto& b : part->broken) present.insert({b.kind, b.ns.value_or(""), b.name.value_or("")});
  }
  ManifestSet kept;
  for (const auto& part : previous.parts) {
    add_missing(kept.services, part->services, present);
    add_missing(kept.slices, part->slices, present);
    add_missing(kept.endpoints, part->endpoints, present);
    add_missing(kept.pods, part->pods, present);
    // what was broken then may be what cannot be read now: it still holds its services
    for (const auto& b : part->broken)
      if (present.insert({b.kind, b.ns.value_or(""), b.name.value_or("")}).second) kept.broken.push_back(b);
  }
  return kept;
}

// Parsing is the bulk of a first read, and files parse independently: one
// thread per CPU. Capped, because each thread holds a whole file's text and
// tree at once (up to the 64 MiB file limit each), and because the agent runs
// beside the node's workloads: a burst of changes must not take every core of
// a large node. The CPUs counted are the ones this process may run on (a
// DaemonSet pod's cpuset or CPU pinning), not every CPU of the node.
constexpr unsigned kMaxParseThreads = 8;

std::size_t parse_threads() {
  static const std::size_t threads = [] {
    cpu_set_t allowed;
    unsigned cpus = sched_getaffinity(0, sizeof(allowed), &allowed) == 0 ? static_cast<unsigned>(CPU_COUNT(&allowed))
                                                                         : std::thread::hardware_concurrency();
    return std::clamp(cpus, 1u, kMaxParseThreads);  // 0 when unknown: then one
  }();
  return threads;
}

// Runs work(0..count-1) on up to parse_threads() threads (this one included).

template <typename Work>
void run_on_workers(std::size_t count, Work work) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next++) < count;) work(i);
  };
  std::vector<std::thread> helpers;
  for (std::size_t t = 1; t < parse_threads() && t < count; ++t) helpers.emplace_back(worker);
  worker();
  for (auto& h : helpers) h.join();
}

}  // namespace

std::string manifest_path(const fs::path& path) {
  fs::path out;
  for (const auto& part : path)
    if (!part.empty() && part != ".") out /= part;
  return out.string();
}

std::vector<fs::path> list_manifest_files(const fs::path& root) {
  std::error_code ec;
  auto status = fs::status(root, ec);
  if (ec || !fs::exists(status)) throw std::runtime_error("manifests path " + root.string() + " does not exist");
  if (!fs::is_directory(status)) return {manifest_path(root)};
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw std::runtime_error("cannot list " + root.string() + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw std::runtime_error("cannot list " + root.string() + ": " + ec.message());
    // the same strings a watcher names (ChangedFiles)
    if (it->is_regular_file(ec) && is_manifest(it->path())) files.push_back(manifest_path(it->path()));
  }
  std::sort(files.begin(), files.end());
  return files;
}

// One file that needs reading: filled by load() on a worker thread.
struct ManifestReader::Job {
  std::string file;
  std::optional<FileStamp> stamp;
  int64_t read_at_ns = 0;
  std::optional<uint64_t> content;
  bool same_content = false;  // the text hashes as the cached one: no parse needed
  DocumentCache* documents = nullptr;  // this file's, touched by this job only
  ParsedDocuments parsed;
  std::exception_ptr failure;  // anything but a parse problem (those are diagnostics)
};

// A file that cannot be read at all: one part, its message.
void ManifestReader::unreadable(Job& job, const std::string& message) {
  ManifestSet part;
  part.diagnostics.push_back({Diagnostic::Severity::Error, {job.file, 0}, "", "", message});
  job.parsed.documents = {std::make_shared<const ManifestSet>(std::move(part))};
  job.parsed.unreadable = true;
}

bool ManifestReader::still_valid(const Cached& cached, const std::optional<FileStamp>& stamp) const {
  if (!stamp || !cached.stamp || !(*cached.stamp == *stamp)) return false;
  // written within a clock tick of our last read: the stamp may hide a change
  return stamp->mtime_ns + kRacyWindowNs < cached.read_at_ns && stamp->ctime_ns + kRacyWindowNs < cached.read_at_ns;
}

void ManifestReader::load(Job& job) const {
  const std::string& file = job.file;
  std::ifstream in(file, std::ios::binary);
  if (!in) return unreadable(job, "cannot read the file");
  if (job.stamp && static_cast<std::uintmax_t>(job.stamp->size) > limits_.max_file_bytes)
    return unreadable(job, "file is " + std::to_string(job.stamp->size) + " bytes, over the limit of " +
                               std::to_string(limits_.max_file_bytes) + ": split it");
  // in blocks, not character by character: a change rereads its whole file
  std::string text;
  if (job.stamp) text.reserve(static_cast<std::size_t>(job.stamp->size));
  char block[1 << 16];
  while (in.read(block, sizeof(block)) || in.gcount() > 0) {
    text.append(block, static_cast<std::size_t>(in.gcount()));
    if (text.size() > limits_.max_file_bytes) break;  // grew since the stat: refused below
  }
  if (text.size() > limits_.max_file_bytes)  // grew since the stat
    return unreadable(job, "file is over the limit of " + std::to_string(limits_.max_file_bytes) + " bytes: split it");
  job.content = content_hash(text);
  auto cached = cache_.find(file);
  if (cached != cache_.end() && cached->second.content == job.content) {
    job.same_content = true;
    return;
  }
  job.parsed = parse_manifest_documents(text, file, *job.documents);
}

ManifestSet ManifestReader::FileContent::flatten() const {
  ManifestSet all;
  for (const auto& part : parts) {
    ManifestSet copy = *part;
    all.append(std::move(copy));
  }
  all.files = 1;
  all.hold_everything = all.hold_everything || hold_everything;
  return all;
}

ManifestReader::SharedSet ManifestReader::settle(const std::string& file, ParsedDocuments&& parsed) {
  auto previous = last_good_.find(file);
  FileContent content{std::move(parsed.documents), false};
  if (!parsed.unreadable) {
    auto good = std::make_shared<const FileContent>(std::move(content));
    last_good_[file] = good;
    return good;
  }
  ManifestSet own;  // the file's own part: what is kept, and why
  if (previous != last_good_.end()) {
    own = kept_from_previous(content.parts, *previous->second);
    own.diagnostics.push_back({Diagnostic::Severity::Warning, {file, 0}, "", "",
                               "keeping the objects of its last readable version"});
  } else {
    content.hold_everything = true;
    own.hold_everything = true;
    own.diagnostics.push_back({Diagnostic::Severity::Warning, {file, 0}, "", "",
                               "its content is unknown: no service is removed until it reads cleanly"});
  }
  content.parts.push_back(std::make_shared<const ManifestSet>(std::move(own)));
  return std::make_shared<const FileContent>(std::move(content));
}

void ManifestReader::ChangedFiles::add(const ChangedFiles& more) {
  all = all || more.all;
  if (!all) files.insert(more.files.begin(), more.files.end());
  else files.clear();
}

void ManifestReader::run(std::vector<Job>& jobs) {
  run_on_workers(jobs.size(), [&](std::size_t i) {
    try {
      load(jobs[i]);
    } catch (...) {
      jobs[i].failure = std::current_exception();
    }
  });
  for (auto& job : jobs)
    if (job.failure) std::rethrow_exception(job.failure);  // before anything is changed
  for (auto& job : jobs) {
    Cached& entry = cache_[job.file];
    if (job.same_content) {
      ++work_.reused;
    } else {
      ++work_.parsed;
      entry.objects = settle(job.file, std::move(job.parsed));
    }
    entry.stamp = job.stamp;
    entry.read_at_ns = job.read_at_ns;
    entry.content = job.content;
  }
  work_.read = jobs.size();
}

std::optional<ManifestReader::FilesRead> ManifestReader::read_named(const ChangedFiles& changed) {
  std::vector<Job> jobs;
  for (const auto& file : changed.files) {
    if (!cache_.count(file)) return std::nullopt;  // new, or not one the listing has (under a symlinked directory)
    int64_t now = file_clock_now_ns();
    auto stamp = stamp_of(file);
    std::error_code ec;
    if (!stamp || !fs::is_regular_file(file, ec)) return std::nullopt;  // gone
    jobs.push_back({file, stamp, now, std::nullopt, false, &documents_[file], {}, nullptr});
  }
  work_ = {};
  run(jobs);
  work_.reused += cache_.size() - jobs.size();  // untouched: their last parse stands
  FilesRead out{{}, false};
  for (const auto& job : jobs) out.files.emplace_back(job.file, cache_.at(job.file).objects);
  return out;
}

ManifestReader::FilesRead ManifestReader::read_files(const fs::path& root, const ChangedFiles* changed) {
  if (changed && !changed->all && listed_)
    if (auto named = read_named(*changed)) return std::move(*named);
  std::vector<fs::path> files = list_manifest_files(root);
  std::vector<Job> jobs;
  work_ = {};
  for (const auto& path : files) {
    std::string file = path.string();
    int64_t now = file_clock_now_ns();  // before the stat: a write after it is racy next time
    auto stamp = stamp_of(path);
    auto cached = cache_.find(file);
    if (cached != cache_.end()) {
      bool valid = changed ? !changed->all && !changed->files.count(file) && stamp && cached->second.stamp &&
                                 *cached->second.stamp == *stamp
                           : still_valid(cached->second, stamp);
      if (valid) continue;
    }
    jobs.push_back({file, stamp, now, std::nullopt, false, &documents_[file], {}, nullptr});
  }
  run(jobs);
  work_.reused += files.size() - jobs.size();

  std::set<std::string> seen;
  FilesRead out;
  out.files.reserve(files.size());
  for (const auto& path : files) {
    seen.insert(path.string());
    out.files.emplace_back(path.string(), cache_.at(path.string()).objects);
  }
  std::erase_if(last_good_, [&](const auto& entry) { return !seen.count(entry.first); });
  std::erase_if(cache_, [&](const auto& entry) { return !seen.count(entry.first); });
  std::erase_if(documents_, [&](const auto& entry) { return !seen.count(entry.first); });
  listed_ = true;
  return out;
}

ManifestSet ManifestReader::read(const fs::path& root) {
  ManifestSet all;
  for (auto& [file, objects] : read_files(root).files) all.append(objects->flatten());
  return all;
}

}  // namespace socklb
