// A stream of changes that never pauses, as a cluster's is: the agent must
// keep applying them (a burst is one batch, never a reason to wait), and
// must stop on SIGTERM in the middle of it.

#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <set>
#include <thread>

#include "manifests.h"
#include "testbed.h"

using namespace kt;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kPods = 20;
std::string pod_ip(int i) { return "10.244.5." + std::to_string(1 + i % kPods); }

// The one pod of service web is replaced by the next one every 5 ms (200
// changes a second), each write a whole file renamed into place.
class ChangeStream {
 public:
  explicit ChangeStream(Testbed& node) : node_(node) {
    thread_ = std::thread([this] {
      for (auto next = Clock::now(); !stop_; next += 5ms) {
        node_.write_manifest("pods.yaml", pod({"web", pod_ip(written_)}));
        ++written_;
        std::this_thread::sleep_until(next + 5ms);
      }
    });
  }
  ~ChangeStream() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int written() const { return written_; }

 private:
  Testbed& node_;
  std::atomic<bool> stop_{false};
  std::atomic<int> written_{0};
  std::thread thread_;
};

void start_web(Testbed& node) {
  std::vector<std::string> servers;
  for (int i = 0; i < kPods; ++i) servers.push_back(pod_ip(i) + ":8080");
  node.serve(servers);
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort));
  node.write_manifest("pods.yaml", pod({"web", pod_ip(0)}));
  node.start_agent();
}

}  // namespace

TEST_CASE("a stream of 200 manifest changes per second for 10 s is applied as it comes, and the last one is served") {
  Testbed node;
  start_web(node);
  std::set<std::string> reached;
  std::vector<int> syncs_per_second;
  {
    ChangeStream stream(node);
    int syncs = node.syncs_logged();
    for (int second = 0; second < 10; ++second) {
      std::this_thread::sleep_for(1s);
      int now = node.syncs_logged();
      syncs_per_second.push_back(now - syncs);
      syncs = now;
      auto attempt = node.connect("10.96.0.10:80");
      if (attempt.at(0).ok) reached.insert(attempt[0].backend);
    }
    stream.stop();
    // the last pod written is served once the agent caught up
    std::string last = pod_ip(stream.written() - 1) + ":8080";
    std::string got;
    for (auto until = Clock::now() + 5s; Clock::now() < until && got != last;) got = node.connect("10.96.0.10:80").at(0).backend;
    std::string per_second;
    for (int n : syncs_per_second) per_second += (per_second.empty() ? "" : " ") + std::to_string(n);
    MESSAGE(stream.written(), " changes written; syncs in each second of the stream: ", per_second,
            "; pods reached by one connect a second: ", reached.size());
    CHECK(got == last);
  }
  // no second went by without a sync: a stream that never pauses does not starve the agent
  for (int n : syncs_per_second) CHECK(n > 0);
  // and the connects followed the changes rather than one stale pod
  CHECK(reached.size() >= 3);
}

TEST_CASE("SIGTERM in the middle of a stream of changes stops the agent") {
  Testbed node;
  start_web(node);
  ChangeStream stream(node);
  std::this_thread::sleep_for(1s);
  std::size_t from = node.agent().lines().size();
  node.agent().signal(SIGTERM);
  // the stream goes on meanwhile; the agent must not be kept busy by it
  for (auto until = Clock::now() + 5s; Clock::now() < until && node.agent().running();) std::this_thread::sleep_for(10ms);
  bool stopped = !node.agent().running();
  stream.stop();
  CHECK(stopped);
  CHECK(node.agent().wait() == 0);
  CHECK(node.events("stopping", from).size() == 1);
}
