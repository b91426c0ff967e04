#include "agent/hosts_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "sys/sys_error.h"
#include "sys/unique_fd.h"

namespace socklb {
namespace fs = std::filesystem;

std::string HostsFile::render(const std::set<std::pair<ServiceRef, IpAddress>>& names, const std::string& domain) {
  std::string out = "# The services socklb serves, written by `socklb run --hosts-file` after each sync. Do not edit.\n";
  for (const auto& [ref, ip] : names) {
    std::string svc = ref.name + "." + ref.ns + ".svc";
    out += ip.str() + " " + svc + "." + domain + " " + svc + "\n";
  }
  return out;
}

void HostsFile::update(const KernelState& served) {
  std::set<std::pair<ServiceRef, IpAddress>> names;
  for (const auto& [key, owner] : served.owners())
    if (!owner.name.empty()) names.emplace(owner, key.vip);
  if (written_ == names) return;
  std::string text = render(names, domain_);
  fs::path staged = path_.parent_path() / ("." + path_.filename().string() + ".tmp");
  UniqueFd fd(open(staged.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw SystemError("cannot write the hosts file " + staged.string(), errno);
  for (std::size_t done = 0; done < text.size();) {
    ssize_t n = write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) throw SystemError("cannot write the hosts file " + staged.string(), errno);
    done += static_cast<std::size_t>(n);
  }
  if (fsync(fd.get()) != 0) throw SystemError("cannot write the hosts file " + staged.string(), errno);
  if (std::rename(staged.c_str(), path_.c_str()) != 0)
    throw SystemError("cannot put the hosts file in place at " + path_.string(), errno);
  written_ = std::move(names);
}

}  // namespace socklb
