#include "agent/manifest_watch.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "sys/sys_error.h"

namespace socklb {
namespace fs = std::filesystem;
namespace {

// Writes are seen when the file is closed, not when it is created (it may
// still be half written); renames and deletes cover editors that replace a
// file, and kubectl-style atomic symlink swaps. IN_CREATE is watched for new
// directories only.
constexpr uint32_t kEvents = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |
                             IN_MOVE_SELF | IN_ATTRIB;

bool concerns_manifest(const std::string& name) {
  auto ext = fs::path(name).extension();
  return ext == ".yaml" || ext == ".yml";
}

}  // namespace

ManifestWatch::ManifestWatch(fs::path root)
    : root_(std::move(root)), root_is_file_(!fs::is_directory(root_)), fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  if (!fd_) throw SystemError("inotify_init1", errno);
  watch_tree();
}

void ManifestWatch::watch_tree() {
  fs::path dir = root_is_file_ ? root_.parent_path() : root_;
  if (dir.empty()) dir = ".";
  int wd = inotify_add_watch(fd_.get(), dir.c_str(), kEvents);
  if (wd < 0) throw SystemError("cannot watch " + dir.string(), errno);
  dirs_[wd] = dir;
  if (root_is_file_) return;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    wd = inotify_add_watch(fd_.get(), it->path().c_str(), kEvents);  // re-adding is harmless
    if (wd >= 0) dirs_[wd] = it->path();
  }
}

std::optional<struct stat> ManifestWatch::lstat_of(int wd, const std::string& name) const {
  auto dir = dirs_.find(wd);
  struct stat st;
  if (dir == dirs_.end() || lstat((dir->second / name).c_str(), &st) != 0) return std::nullopt;
  return st;
}

ManifestWatch::Changes ManifestWatch::drain() {
  alignas(inotify_event) char buf[64 * 1024];
  Changes out;
  for (;;) {
    ssize_t n = read(fd_.get(), buf, sizeof(buf));
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* event = reinterpret_cast<inotify_event*>(p);
      std::string name = event->len ? event->name : "";
      // a created file is read once its writer closes it (IN_CLOSE_WRITE
      // follows); a symlink or hard link is complete when it appears
      p += sizeof(inotify_event) + event->len;
      bool file_created = (event->mask & IN_CREATE) && !(event->mask & IN_ISDIR);
      auto st = file_created || (event->mask & IN_MOVED_TO) ? lstat_of(event->wd, name) : std::nullopt;
      bool symlink = st && S_ISLNK(st->st_mode);
      bool complete = !file_created || (st && (symlink || st->st_nlink > 1));
      if (root_is_file_) {
        bool ours = complete && name == root_.filename().string();
        out.relevant |= ours;
        out.files.all |= ours;
        continue;
      }
      auto dir = dirs_.find(event->wd);
      if ((event->mask & (IN_ISDIR | IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW)) || dir == dirs_.end()) {
        out.relevant = true;
        out.files.all = true;
      } else if (concerns_manifest(name)) {
        // named even while its writer still writes it (its close asks for
        // the sync): a sync that comes first for another reason lists the
        // tree and sees it. A hard link whose other name was gone before
        // the lstat looks the same and waits for the next sync or the full
        // resync, as it did when every sync listed the tree.
        out.relevant |= complete;
        out.files.files.insert(manifest_path(dir->second / name));
      } else if ((event->mask & (IN_MOVED_TO | IN_CREATE)) && symlink) {
        // a symlink put in place (a kubectl-style swap of ..data): the
        // manifests seen through it may all have changed
        out.relevant = true;
        out.files.all = true;
      }
    }
  }
  if (out.files.all) out.files.files.clear();
  // a directory came, went or moved (or events were lost): watch what is
  // there now. Not on every change: the walk costs as much as the tree.
  if (out.files.all && !root_is_file_) {
    try {
      watch_tree();
    } catch (const SystemError&) {
      // the tree is gone; the next read reports it and the agent retries
    }
  }
  return out;
}

}  // namespace socklb
