#pragma once
// The Kubernetes API as a source of object events: Services and
// EndpointSlices listed, then watched, each by its own thread (a
// "reflector", as client-go calls it), plus this node's Node for its zone.
//
// Nothing is reported until every resource has been listed completely once:
// an agent that starts while the API is away keeps the pinned state as it
// is, and never serves a half-listed cluster (services without their
// slices would be refused). After that, each watch event becomes an object
// event; a relist (after 410 Gone) reports only the difference from what
// was known, so a service that did not change does not blink.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kube/kubeconfig.h"
#include "sources/object_source.h"
#include "sys/unique_fd.h"

namespace socklb {

struct KubeSourceOptions {
  ApiAccess access;
  std::string node_name;  // whose Node is watched for its zone; empty: none
  std::size_t page_size = 500;  // objects per list page
};

// What the reflectors have seen of the API, for logs, health and metrics.
struct KubeSourceStats {
  uint64_t lists = 0;          // complete lists (the first of each resource included)
  uint64_t relists = 0;        // lists after the first: a 410 Gone, or a watch that could not resume
  uint64_t watch_restarts = 0;  // watches started again after one ended
  std::map<std::string, uint64_t> errors_by_code;  // "401", "410", "unreachable", ...
};

class KubeSource : public ObjectSource {
 public:
  explicit KubeSource(KubeSourceOptions options);
  ~KubeSource();  // stops the reflectors (each within about a second)
  KubeSource(const KubeSource&) = delete;
  KubeSource& operator=(const KubeSource&) = delete;

  // Readable (an eventfd) when read() has news: first once everything has
  // been listed, then on each change.
  int fd() const { return wake_.get(); }
  // Everything new since the last read, as one batch; clears the fd.
  SourceUpdate read() override;
  // Every resource has been listed completely at least once.
  bool listed() const { return listed_.load(); }
  // The zone label of this node's Node, once seen ("" when it has none).
  std::optional<std::string> zone() const;
  KubeSourceStats stats() const;

 private:
  class Reflector;
  friend class Reflector;

  void publish(SourceUpdate update);  // from a reflector thread
  void count_watch_restart();
  void mark_listed(std::size_t reflector);
  void set_zone(std::string zone);
  void count_error(const std::string& code);

  KubeSourceOptions options_;
  UniqueFd wake_;
  mutable std::mutex mutex_;
  SourceUpdate pending_;
  std::vector<bool> listed_each_;
  std::atomic<bool> listed_{false};
  std::atomic<bool> stop_{false};
  std::optional<std::string> zone_;
  KubeSourceStats stats_;
  std::vector<std::unique_ptr<Reflector>> reflectors_;
  std::vector<std::thread> threads_;
};

}  // namespace socklb
