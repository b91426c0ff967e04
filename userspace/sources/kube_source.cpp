#include "sources/kube_source.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <algorithm>
#include <random>
#include <set>

#include <spdlog/spdlog.h>

#include "kube/api_client.h"
#include "kube/json_tree.h"
#include "manifests/document_parser.h"
#include "sys/sys_error.h"

namespace socklb {
namespace {

// Services and slices of headless services are not ours (kube-proxy's
// selector). The service-proxy-name label is not filtered here: a service
// labelled for socklb is served, and reconcile drops the others.
constexpr const char* kNotHeadless = "!service.kubernetes.io/headless";
constexpr const char* kZoneLabel = "topology.kubernetes.io/zone";
constexpr std::chrono::milliseconds kFirstBackoff{500};
constexpr std::chrono::seconds kMaxBackoff{30};

enum class Resource { Services, EndpointSlices, Node };

struct ResourceInfo {
  const char* name;  // in messages and metrics
  const char* path;
  ObjectKind kind;
  Origin origin;  // one per resource: its broken objects are listed per origin
};

ResourceInfo info_of(Resource r) {
  switch (r) {
    case Resource::Services: return {"services", "/api/v1/services", ObjectKind::Service, 1};
    case Resource::EndpointSlices:
      return {"endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", ObjectKind::EndpointSlice, 2};
    case Resource::Node: return {"nodes", "/api/v1/nodes", ObjectKind::Service, 3};
  }
  return {};
}

const YamlNode* child(const YamlNode* node, std::string_view key) { return node ? node->find(key) : nullptr; }
std::string scalar(const YamlNode* node) {
  return node && node->type == YamlNode::Type::Scalar ? node->scalar : std::string();
}
std::string resource_version(const YamlNode* object) {
  return scalar(child(child(object, "metadata"), "resourceVersion"));
}

// The message of a Kubernetes Status body, or the body's start.
std::string status_message(const std::string& body) {
  try {
    auto doc = load_json_document(body);
    if (std::string m = scalar(child(doc->root(), "message")); !m.empty()) return m;
  } catch (const JsonSyntaxError&) {
  }
  return body.substr(0, 200);
}

// What to do about an HTTP status the API server answered, for an operator.
std::string advice_for(long status, const std::string& resource) {
  if (status == 401)
    return "the API server does not accept socklb's credentials: check the token (or client certificate) in the "
           "kubeconfig, or the service account token";
  if (status == 403)
    return "socklb's identity may not list/watch " + resource +
           ": grant it with the ClusterRole in deploy/kubernetes/clusterrole.yaml (RBAC)";
  return "retrying";
}

// endpoints.kubernetes.io/last-change-trigger-time: when the change that
// made this version of an EndpointSlice happened (RFC 3339), as kube-proxy
// reads it for its network programming latency.
std::optional<std::chrono::system_clock::time_point> change_trigger_of(const YamlNode& object) {
  std::string text = scalar(child(child(child(&object, "metadata"), "annotations"), "endpoints.kubernetes.io/last-change-trigger-time"));
  if (text.empty()) return std::nullopt;
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  double fraction = 0;
  if (*rest == '.') {
    char* end = nullptr;
    fraction = std::strtod(rest, &end);
    rest = end;
  }
  if (*rest != 'Z') return std::nullopt;  // the API server writes UTC
  auto seconds = std::chrono::system_clock::from_time_t(timegm(&tm));
  return seconds + std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(fraction));
}

class Backoff {
 public:
  std::chrono::milliseconds next() {
    auto base = current_;
    current_ = std::min<std::chrono::milliseconds>(current_ * 2, kMaxBackoff);
    // jitter: many agents restarted together do not come back in step
    std::uniform_real_distribution<double> spread(0.5, 1.0);
    return std::chrono::milliseconds(static_cast<long>(base.count() * spread(random_)));
  }
  void reset() { current_ = kFirstBackoff; }

 private:
  std::chrono::milliseconds current_ = kFirstBackoff;
  std::mt19937 random_{std::random_device{}()};
};

}  // namespace

class KubeSource::Reflector {
 public:
  Reflector(KubeSource& owner, std::size_t index, Resource resource)
      : owner_(owner), index_(index), resource_(resource), info_(info_of(resource)), client_(owner.options_.access) {}

  void run() {
    bool need_list = true;
    while (!owner_.stop_) {
      try {
        if (need_list) {
          if (resource_ == Resource::Node && lists_ == 0 && !node_checked_) check_node();
          if (!list()) continue;
          need_list = false;
          backoff_.reset();
          owner_.mark_listed(index_);
        }
        switch (watch()) {
          case WatchEnd::Stopped: return;
          case WatchEnd::Ended: break;  // the server's timeout: watch again from where it stopped
          case WatchEnd::Gone:
            need_list = true;  // too old to resume: list again, report the difference
            break;
          case WatchEnd::Failed: pause(); break;
        }
        if (!owner_.stop_) owner_.count_watch_restart();
      } catch (const ApiUnreachable& e) {
        trouble("unreachable", std::string("cannot reach the API server: ") + e.what() + "; retrying (the kernel keeps "
                "serving the last state applied)");
        pause();
      }
    }
  }

 private:
  enum class WatchEnd { Stopped, Ended, Gone, Failed };

  Query selection() const {
    Query q;
    if (resource_ == Resource::Node) q["fieldSelector"] = "metadata.name=" + owner_.options_.node_name;
    else q["labelSelector"] = kNotHeadless;
    return q;
  }

  // Lists every object, page by page, and publishes the difference from
  // what was known. false: not complete (the caller retries).
  bool list() {
    SourceUpdate update;
    std::set<ObjectId> seen;
    bool broken_changed = false;
    std::string token;
    do {
      Query q = selection();
      q["limit"] = std::to_string(owner_.options_.page_size);
      if (!token.empty()) q["continue"] = token;
      ApiResponse r = client_.get(info_.path, q, owner_.stop_);
      if (r.status == 0) return false;
      if (r.status == 410 && !token.empty()) {  // the continue token expired: start over
        owner_.count_error("410");
        return false;
      }
      if (r.status != 200) {
        http_trouble(r, "list");
        pause();
        return false;
      }
      YamlDocumentPtr page;
      try {
        page = load_json_list(r.body, [&](YamlDocumentPtr item) {
          if (item->root()) take(*item->root(), update, seen, broken_changed);
        });
      } catch (const JsonSyntaxError& e) {
        trouble("bad-response", "the API server's list of " + std::string(info_.name) + " is not JSON: " + e.what());
        pause();
        return false;
      }
      const YamlNode* meta = child(page->root(), "metadata");
      token = scalar(child(meta, "continue"));
      version_ = scalar(child(meta, "resourceVersion"));
    } while (!token.empty());
    for (const ObjectId& id : known_)
      if (!seen.count(id)) {
        update.events.push_back({ObjectEvent::Type::Delete, info_.origin, id, {}});
        broken_changed |= broken_.erase(id) > 0;
      }
    known_ = std::move(seen);
    if (broken_changed) add_broken(update);
    update.origins = 1;
    fine();
    if (lists_++ > 0) spdlog::info("listed {} again ({} objects) from resourceVersion {}", info_.name, known_.size(), version_);
    owner_.publish(std::move(update));
    return true;
  }

  // Once, before the first list: a wrong --node-name would silently leave
  // topology hints and internalTrafficPolicy: Local without local endpoints.
  void check_node() {
    ApiResponse r = client_.get(info_.path + std::string("/") + owner_.options_.node_name, {}, owner_.stop_);
    if (r.status == 0) return;
    node_checked_ = true;
    if (r.status == 404)
      spdlog::warn("the API server has no Node \"{}\": give --node-name this node's name as Kubernetes knows it "
                   "(internalTrafficPolicy: Local and topology hints depend on it)",
                   owner_.options_.node_name);
  }

  WatchEnd watch() {
    Query q = selection();
    q["watch"] = "1";
    q["allowWatchBookmarks"] = "true";
    q["resourceVersion"] = version_;
    // randomized, as client-go does, so the watches of many agents do not all end together
    long timeout = 300 + std::uniform_int_distribution<long>(0, 300)(random_);
    q["timeoutSeconds"] = std::to_string(timeout);
    WatchEnd end = WatchEnd::Ended;
    bool received = false;
    auto on_line = [&](std::string_view line) {
      received = true;
      return event(line, end);
    };
    ApiResponse r = client_.stream(info_.path, q, on_line, owner_.stop_, timeout + 30);
    if (r.status == 0 && owner_.stop_) return WatchEnd::Stopped;
    if (r.status == 410) {
      owner_.count_error("410");
      return WatchEnd::Gone;
    }
    if (r.status != 200) {
      http_trouble(r, "watch");
      return WatchEnd::Failed;
    }
    if (received) {
      fine();
      backoff_.reset();
    }
    return end;
  }

  // One line of a watch stream. false ends the stream (`end` says why).
  bool event(std::string_view line, WatchEnd& end) {
    YamlDocumentPtr doc;
    try {
      doc = load_json_document(line);
    } catch (const JsonSyntaxError& e) {
      trouble("bad-response", "a watch event of " + std::string(info_.name) + " is not JSON: " + e.what());
      end = WatchEnd::Failed;
      return false;
    }
    std::string type = scalar(child(doc->root(), "type"));
    const YamlNode* object = child(doc->root(), "object");
    if (type == "ERROR") {
      std::string code = scalar(child(object, "code"));
      owner_.count_error(code.empty() ? "error-event" : code);
      if (code == "410") {
        end = WatchEnd::Gone;
      } else {
        trouble("watch-error-" + code, "the watch of " + std::string(info_.name) + " failed: " +
                                           scalar(child(object, "message")) + " (code " + code + "); retrying");
        end = WatchEnd::Failed;
      }
      return false;
    }
    if (!object) return true;
    if (std::string v = resource_version(object); !v.empty()) version_ = v;
    if (type == "BOOKMARK") return true;
    SourceUpdate update;
    bool broken_changed = false;
    if (type == "ADDED" || type == "MODIFIED") {
      take(*object, update, known_, broken_changed);
    } else if (type == "DELETED") {
      forget(*object, update, broken_changed);
    } else {
      return true;  // a type this client does not know: nothing to do
    }
    if (broken_changed) add_broken(update);
    owner_.publish(std::move(update));
    return true;
  }

  ObjectId id_in(const YamlNode& object) const {
    const YamlNode* meta = child(&object, "metadata");
    std::string ns = scalar(child(meta, "namespace"));
    return {info_.kind, ns.empty() ? "default" : ns, scalar(child(meta, "name"))};
  }

  // An object as listed or watched: an upsert (or a broken object).
  void take(const YamlNode& object, SourceUpdate& out, std::set<ObjectId>& ids, bool& broken_changed) {
    if (resource_ == Resource::Node) {
      owner_.set_zone(scalar(child(child(child(&object, "metadata"), "labels"), kZoneLabel)));
      return;
    }
    if (auto trigger = change_trigger_of(object)) out.change_triggers.push_back(*trigger);
    ParsedFile parsed = parse_object_tree(object, "api");
    ManifestSet& set = parsed.objects;
    out.parsed += 1;
    for (auto& d : set.diagnostics) out.diagnostics.push_back(std::move(d));
    ObjectId id = id_in(object);
    ids.insert(id);
    if (!set.broken.empty()) {
      broken_[id] = set.broken.front();
      broken_changed = true;
      return;
    }
    broken_changed |= broken_.erase(id) > 0;
    ObjectPtr ptr;
    if (!set.services.empty()) ptr = std::make_shared<const Service>(std::move(set.services.front()));
    else if (!set.slices.empty()) ptr = std::make_shared<const EndpointSlice>(std::move(set.slices.front()));
    else return;
    out.events.push_back({ObjectEvent::Type::Upsert, info_.origin, id_of(ptr), std::move(ptr)});
  }

  void forget(const YamlNode& object, SourceUpdate& out, bool& broken_changed) {
    if (resource_ == Resource::Node) return;  // the zone stays as last seen
    ObjectId id = id_in(object);
    known_.erase(id);
    broken_changed |= broken_.erase(id) > 0;
    out.events.push_back({ObjectEvent::Type::Delete, info_.origin, id, {}});
  }

  void add_broken(SourceUpdate& out) const {
    std::vector<BrokenObject> all;
    for (const auto& [id, b] : broken_) all.push_back(b);
    out.broken.emplace_back(info_.origin, std::move(all));
  }

  void http_trouble(const ApiResponse& r, const char* verb) {
    std::string code = std::to_string(r.status);
    owner_.count_error(code);
    // the body is the server's Status message; it never holds our token
    trouble(code, "the API server answered " + std::string(verb) + " " + info_.name + " with " + code + " (" +
                      status_message(r.body) + "): " + advice_for(r.status, info_.name));
  }

  // Logged once per change of state, not once per retry.
  void trouble(const std::string& state, const std::string& message) {
    if (state == "unreachable") owner_.count_error("unreachable");
    if (state == state_) return;
    state_ = state;
    spdlog::warn("{}", message);
  }

  void fine() {
    if (!state_.empty()) spdlog::info("the API server answers for {} again", info_.name);
    state_.clear();
  }

  void pause() {
    auto until = std::chrono::steady_clock::now() + backoff_.next();
    while (!owner_.stop_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  KubeSource& owner_;
  std::size_t index_;
  Resource resource_;
  ResourceInfo info_;
  ApiClient client_;
  Backoff backoff_;
  std::mt19937 random_{std::random_device{}()};
  std::string version_;  // resumed from by the next watch
  std::set<ObjectId> known_;  // what the last list and the watch since left in place
  std::map<ObjectId, BrokenObject> broken_;
  std::string state_;  // the trouble last logged; empty when all is well
  int lists_ = 0;
  bool node_checked_ = false;
};

KubeSource::KubeSource(KubeSourceOptions options) : options_(std::move(options)) {
  wake_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) throw SystemError("eventfd", errno);
  std::vector<Resource> resources = {Resource::Services, Resource::EndpointSlices};
  if (!options_.node_name.empty()) resources.push_back(Resource::Node);
  listed_each_.assign(resources.size(), false);
  // clients first (they check the credentials' files): a wrong path fails the start
  for (std::size_t i = 0; i < resources.size(); ++i)
    reflectors_.push_back(std::make_unique<Reflector>(*this, i, resources[i]));
  for (auto& r : reflectors_) threads_.emplace_back([&r] { r->run(); });
}

KubeSource::~KubeSource() {
  stop_ = true;
  for (auto& t : threads_) t.join();
}

void KubeSource::publish(SourceUpdate update) {
  std::lock_guard lock(mutex_);
  for (auto& e : update.events) pending_.events.push_back(std::move(e));
  for (auto& [origin, broken] : update.broken) {
    std::erase_if(pending_.broken, [&](const auto& b) { return b.first == origin; });
    pending_.broken.emplace_back(origin, std::move(broken));
  }
  for (auto& d : update.diagnostics) pending_.diagnostics.push_back(std::move(d));
  pending_.change_triggers.insert(pending_.change_triggers.end(), update.change_triggers.begin(),
                                  update.change_triggers.end());
  pending_.origins += update.origins;
  pending_.parsed += update.parsed;
  if (listed_) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = write(wake_.get(), &one, sizeof(one));
  }
}

void KubeSource::mark_listed(std::size_t reflector) {
  std::lock_guard lock(mutex_);
  ++stats_.lists;
  if (listed_each_[reflector] && listed_) {
    ++stats_.relists;
    return;
  }
  listed_each_[reflector] = true;
  if (listed_ || std::find(listed_each_.begin(), listed_each_.end(), false) != listed_each_.end()) return;
  listed_ = true;  // everything is known: the first sync may run
  uint64_t one = 1;
  [[maybe_unused]] auto n = write(wake_.get(), &one, sizeof(one));
}

SourceUpdate KubeSource::read() {
  uint64_t count;
  [[maybe_unused]] auto n = ::read(wake_.get(), &count, sizeof(count));
  std::lock_guard lock(mutex_);
  SourceUpdate out = std::move(pending_);
  pending_ = {};
  return out;
}

void KubeSource::set_zone(std::string zone) {
  std::lock_guard lock(mutex_);
  if (zone_ == zone) return;
  bool first = !zone_;
  zone_ = std::move(zone);
  if (!first && listed_) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = write(wake_.get(), &one, sizeof(one));
  }
}

std::optional<std::string> KubeSource::zone() const {
  std::lock_guard lock(mutex_);
  return zone_;
}

void KubeSource::count_error(const std::string& code) {
  std::lock_guard lock(mutex_);
  ++stats_.errors_by_code[code];
}

void KubeSource::count_watch_restart() {
  std::lock_guard lock(mutex_);
  ++stats_.watch_restarts;
}

KubeSourceStats KubeSource::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace socklb
