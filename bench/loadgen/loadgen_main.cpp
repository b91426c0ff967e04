// socklb-loadgen: the benchmarks' client. Runs one workload against one or
// more targets and prints one JSON line (rate, latency percentiles, bytes,
// errors, which pods answered, this process's CPU time in the measured window).
//   socklb-loadgen crr|rr|stream --target ADDR:PORT [...] [--threads N] [--connections N] ...
//   socklb-loadgen wait-for-backend --target ADDR:PORT --label POD [--timeout S]
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <future>
#include <thread>

#include "clock.h"
#include "endpoint.h"
#include "workloads.h"

namespace {

using namespace loadgen;

CpuTimes cpu_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](timeval tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return {secs(ru.ru_utime), secs(ru.ru_stime)};
}

void sleep_until(uint64_t t_ns) {
  for (uint64_t now = now_ns(); now < t_ns; now = now_ns()) usleep(static_cast<useconds_t>((t_ns - now) / 1000));
}

int run_workload(const std::string& name, const Options& options) {
  uint64_t start = now_ns();
  uint64_t warmup_end = start + static_cast<uint64_t>(options.warmup_s * 1e9);
  uint64_t end = warmup_end + static_cast<uint64_t>(options.duration_s * 1e9);
  std::vector<std::future<Tally>> workers;
  for (unsigned t = 0; t < options.threads; ++t) {
    workers.push_back(std::async(std::launch::async, [&, t] {
      return options.workload == Workload::stream ? run_stream(options, t, warmup_end, end)
                                                  : run_request_reply(options, t, warmup_end, end);
    }));
  }
  sleep_until(warmup_end);
  CpuTimes before = cpu_now();
  sleep_until(end);
  CpuTimes after = cpu_now();
  Tally total;
  for (auto& w : workers) total.merge(w.get());
  CpuTimes used{after.user_s - before.user_s, after.system_s - before.system_s};
  std::printf("%s\n", to_json(name, options.duration_s, total, used).dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"socklb-loadgen: the client of the socklb benchmarks"};
  app.require_subcommand(1);
  Options options;
  std::vector<std::string> targets;
  auto add_common = [&](CLI::App* sub) {
    sub->add_option("--target", targets, "ADDR:PORT; repeat to spread connections round-robin")->required();
    sub->add_option("--request-size", options.request_size, "bytes per request");
    sub->add_option("--response-size", options.response_size, "bytes per response (as the server sends)");
  };
  for (const char* name : {"crr", "rr", "stream"}) {
    auto* sub = app.add_subcommand(name, std::string(name) + " workload");
    add_common(sub);
    sub->add_option("--threads", options.threads, "threads (one epoll each)")->check(CLI::Range(1, 64));
    sub->add_option("--connections", options.connections, "connections in flight per thread")
        ->check(CLI::Range(1, 10000));
    sub->add_option("--warmup", options.warmup_s, "seconds run before measuring");
    sub->add_option("--duration", options.duration_s, "seconds measured")->check(CLI::PositiveNumber);
  }
  std::string label;
  double timeout_s = 5;
  auto* wait = app.add_subcommand("wait-for-backend", "connect until POD answers; print when");
  add_common(wait);
  wait->add_option("--label", label, "the pod label to wait for")->required();
  wait->add_option("--timeout", timeout_s, "give up after this many seconds");
  CLI11_PARSE(app, argc, argv);

  try {
    for (auto& t : targets) options.targets.push_back(bench::parse_endpoint(t));
    std::string name = app.get_subcommands().front()->get_name();
    if (name == "wait-for-backend")
      return wait_for_backend(options.targets.front(), label, timeout_s, options.request_size, options.response_size);
    options.workload = name == "crr" ? Workload::crr : name == "rr" ? Workload::rr : Workload::stream;
    return run_workload(name, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}
