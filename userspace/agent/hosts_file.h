#pragma once
// `socklb run --hosts-file PATH`: every served service's DNS names in hosts
// format, so an existing resolver (dnsmasq --hostsdir, or /etc/hosts-style
// lookups) can answer `web.shop.svc.cluster.local` in standalone mode:
//
//   10.96.0.10 web.shop.svc.cluster.local web.shop.svc
//
// Written atomically (a dot-file renamed into place: dnsmasq skips dot-files
// and re-reads on the rename) after a sync that changed which services or
// ClusterIPs are served, and only then.

#include <filesystem>
#include <set>
#include <string>
#include <utility>

#include "maps/kernel_state.h"

namespace socklb {

class HostsFile {
 public:
  HostsFile(std::filesystem::path path, std::string cluster_domain)
      : path_(std::move(path)), domain_(std::move(cluster_domain)) {}

  // Rewrites the file when the served names or addresses differ from the
  // last write. Throws with the path when it cannot be written.
  void update(const KernelState& served);

  // The file's text for these (name, address) pairs.
  static std::string render(const std::set<std::pair<ServiceRef, IpAddress>>& names, const std::string& domain);

 private:
  std::filesystem::path path_;
  std::string domain_;
  std::optional<std::set<std::pair<ServiceRef, IpAddress>>> written_;
};

}  // namespace socklb
