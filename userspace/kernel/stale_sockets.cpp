#include "kernel/stale_sockets.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "kernel/loader.h"
#include "kernel/pinned_maps.h"
#include "sys/sys_error.h"
#include "sys/unique_fd.h"
#include "socklb_stale_sockets.skel.h"

namespace socklb {
namespace fs = std::filesystem;

struct StaleSocketCloser::Programs {
  struct SkeletonDeleter {
    void operator()(socklb_stale_sockets* skel) const { socklb_stale_sockets__destroy(skel); }
  };
  struct LinkDeleter {
    void operator()(bpf_link* link) const { bpf_link__destroy(link); }
  };
  std::unique_ptr<socklb_stale_sockets, SkeletonDeleter> skel;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> iterators;
};

namespace {

// One open handle per distinct network namespace of the processes in the
// cgroup tree (opened right away: a process may exit before we get there).
// `refused`: processes whose namespace we may not open (no CAP_SYS_PTRACE,
// or a PID namespace of our own).
std::vector<UniqueFd> namespaces_of(const fs::path& cgroup, int& refused) {
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<UniqueFd> out;
  auto add_procs = [&](const fs::path& dir) {
    std::ifstream procs(dir / "cgroup.procs");
    for (pid_t pid; procs >> pid;) {
      UniqueFd ns(open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns && (errno == EACCES || errno == EPERM)) ++refused;
      struct stat st {};
      if (!ns || fstat(ns.get(), &st) != 0 || !seen.insert({st.st_dev, st.st_ino}).second) continue;
      out.push_back(std::move(ns));
    }
  };
  std::error_code ec;
  add_procs(cgroup);
  for (fs::recursive_directory_iterator it(cgroup, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) add_procs(it->path());
  return out;
}

// Reading an iterator is what runs it, socket by socket.
void run_to_end(int iter_fd) {
  char buf[4096];
  while (read(iter_fd, buf, sizeof(buf)) > 0) {
  }
}

}  // namespace

StaleSocketCloser::StaleSocketCloser(const fs::path& bpffs_dir, fs::path cgroup)
    : programs_(std::make_unique<Programs>()), cgroup_(std::move(cgroup)) {
  programs_->skel.reset(socklb_stale_sockets__open());
  if (!programs_->skel) throw SystemError("cannot open the stale-socket iterators", errno);
  programs_->skel->rodata->served_cgroup_id = cgroup_id_of(cgroup_);
  // the agent's pinned maps, never new ones; `closing` and the constants are the iterators' own
  bpf_map* map;
  bpf_object__for_each_map(map, programs_->skel->obj) {
    std::string name = bpf_map__name(map);
    if (bpf_map__is_internal(map) || (!find_map(name) && name != kSockStateMapName)) continue;
    fs::path pin = map_pin_path(bpffs_dir, bpf_map__name(map));
    UniqueFd fd(bpf_obj_get(pin.c_str()));
    if (!fd || bpf_map__reuse_fd(map, fd.get()) != 0) throw SystemError("cannot open " + pin.string(), errno);
  }
  if (int rc = socklb_stale_sockets__load(programs_->skel.get()); rc != 0)
    throw SystemError("the kernel refused the stale-socket iterators (they need bpf_sock_destroy, Linux 6.5 or newer)",
                      -rc);
  for (bpf_program* prog : {programs_->skel->progs.socklb_stale_tcp, programs_->skel->progs.socklb_stale_udp}) {
    bpf_link* link = bpf_program__attach_iter(prog, nullptr);
    if (!link) throw SystemError("cannot create the iterator " + std::string(bpf_program__name(prog)), errno);
    programs_->iterators.emplace_back(link);
  }
}

StaleSocketCloser::~StaleSocketCloser() = default;

int StaleSocketCloser::close_stale(const std::vector<ReverseKey>& gone_tcp) {
  int closing = bpf_map__fd(programs_->skel->maps.closing);
  std::vector<Bytes> marked;
  uint8_t yes = 1;
  for (const auto& endpoint : gone_tcp) {
    Bytes key = encode_reverse_key(endpoint);
    // a full map leaves the rest for a later walk; what is marked is closed now
    if (bpf_map_update_elem(closing, key.data(), &yes, BPF_ANY) != 0) break;
    marked.push_back(std::move(key));
  }
  struct Unmark {
    int fd;
    const std::vector<Bytes>& keys;
    ~Unmark() {
      for (const auto& key : keys) bpf_map_delete_elem(fd, key.data());
    }
  } unmark{closing, marked};

  int refused = 0;
  std::vector<UniqueFd> namespaces = namespaces_of(cgroup_, refused);
  volatile __u64* closed = &programs_->skel->bss->sockets_closed;  // shared with the programs
  __u64 before = *closed;
  std::string failure;
  // setns() moves only the calling thread: a thread of its own, dropped after
  std::thread walker([&] {
    for (const auto& ns : namespaces) {
      if (setns(ns.get(), CLONE_NEWNET) != 0) {
        if (errno == EPERM) ++refused;  // else the namespace is gone
        continue;
      }
      for (const auto& link : programs_->iterators) {
        UniqueFd iter(bpf_iter_create(bpf_link__fd(link.get())));
        if (!iter) {
          failure = "cannot start a socket iterator: " + errno_text(errno);
          return;
        }
        run_to_end(iter.get());
      }
    }
  });
  walker.join();
  int n = static_cast<int>(*closed - before);
  spdlog::debug("stale sockets: {} closed in {} network namespaces", n, namespaces.size());
  // said when it starts (or stops) happening, not on every sync
  if (refused > 0 && !refused_before_)
    spdlog::warn("cannot enter {} network namespaces of processes in {} (permission denied): connections there to "
                 "pods that went away are not closed; the agent needs CAP_SYS_ADMIN and CAP_SYS_PTRACE (and in a pod "
                 "hostPID: true)",
                 refused, cgroup_.string());
  if (refused == 0 && refused_before_) spdlog::info("the network namespaces in {} can be entered again", cgroup_.string());
  refused_before_ = refused > 0;
  if (!failure.empty()) throw std::runtime_error(failure);
  return n;
}

}  // namespace socklb
