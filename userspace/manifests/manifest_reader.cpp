#include "manifests/manifest_reader.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
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

// A file with an unreadable part: keep what reads now, and take from its last
// good version every object that is not among them.
void fill_from_previous(ManifestSet& now, const ManifestSet& previous) {
  std::set<Identity> present;
  auto note = [&](const auto& objects) {
    for (const auto& o : objects) present.insert({o.meta.kind, o.meta.ns, o.meta.name});
  };
  note(now.services);
  note(now.slices);
  note(now.endpoints);
  note(now.pods);
  for (const auto& b : now.broken) present.insert({b.kind, b.ns.value_or(""), b.name.value_or("")});
  add_missing(now.services, previous.services, present);
  add_missing(now.slices, previous.slices, present);
  add_missing(now.endpoints, previous.endpoints, present);
  add_missing(now.pods, previous.pods, present);
  // what was broken then may be what cannot be read now: it still holds its services
  for (const auto& b : previous.broken)
    if (present.insert({b.kind, b.ns.value_or(""), b.name.value_or("")}).second) now.broken.push_back(b);
}

}  // namespace

std::vector<fs::path> list_manifest_files(const fs::path& root) {
  std::error_code ec;
  auto status = fs::status(root, ec);
  if (ec || !fs::exists(status)) throw std::runtime_error("manifests path " + root.string() + " does not exist");
  if (!fs::is_directory(status)) return {root};
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw std::runtime_error("cannot list " + root.string() + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw std::runtime_error("cannot list " + root.string() + ": " + ec.message());
    if (it->is_regular_file(ec) && is_manifest(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

ManifestSet ManifestReader::read_file(const fs::path& file) {
  ParsedFile parsed;
  std::error_code ec;
  auto size = fs::file_size(file, ec);
  std::ifstream in(file, std::ios::binary);
  if (ec || !in) {
    parsed.unreadable = true;
    parsed.objects.diagnostics.push_back({Diagnostic::Severity::Error, {file.string(), 0}, "", "", "cannot read the file"});
  } else if (size > limits_.max_file_bytes) {
    parsed.unreadable = true;
    parsed.objects.diagnostics.push_back({Diagnostic::Severity::Error, {file.string(), 0}, "", "",
                                          "file is " + std::to_string(size) + " bytes, over the limit of " +
                                              std::to_string(limits_.max_file_bytes) + ": split it"});
  } else {
    std::ostringstream text;
    text << in.rdbuf();
    parsed = parse_manifest_text(text.str(), file.string());
  }
  parsed.objects.files = 1;

  auto previous = last_good_.find(file.string());
  if (!parsed.unreadable) {
    ManifestSet good = parsed.objects;
    good.diagnostics.clear();
    last_good_[file.string()] = std::move(good);
  } else if (previous != last_good_.end()) {
    fill_from_previous(parsed.objects, previous->second);
    parsed.objects.diagnostics.push_back({Diagnostic::Severity::Warning, {file.string(), 0}, "", "",
                                          "keeping the objects of its last readable version"});
  } else {
    parsed.objects.hold_everything = true;
    parsed.objects.diagnostics.push_back(
        {Diagnostic::Severity::Warning, {file.string(), 0}, "", "",
         "its content is unknown: no service is removed until it reads cleanly"});
  }
  return std::move(parsed.objects);
}

ManifestSet ManifestReader::read(const fs::path& root) {
  ManifestSet all;
  std::set<std::string> seen;
  for (const auto& file : list_manifest_files(root)) {
    seen.insert(file.string());
    all.append(read_file(file));
  }
  std::erase_if(last_good_, [&](const auto& entry) { return !seen.count(entry.first); });
  return all;
}

}  // namespace socklb
