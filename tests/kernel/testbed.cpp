#include "testbed.h"

#include "status/status_file.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace kt {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPrefix = "slbt";  // every resource a kernel test makes starts with this
std::atomic<int> counter{0};

std::string address_of(const std::string& endpoint) {
  std::string host = endpoint.substr(0, endpoint.rfind(':'));
  if (host.size() > 2 && host.front() == '[') return host.substr(1, host.size() - 2);
  return host;
}

void remove_cgroup(const fs::path& cgroup) {
  // processes still inside (a client killed mid-test) must go first
  for (int attempt = 0; attempt < 50 && fs::exists(cgroup); ++attempt) {
    std::ifstream procs(cgroup / "cgroup.procs");
    pid_t pid;
    while (procs >> pid) kill(pid, SIGKILL);
    if (rmdir(cgroup.c_str()) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void remove_bpffs_dir(const fs::path& dir) {
  if (!fs::exists(dir)) return;
  run_command({SOCKLB_BIN, "uninstall", "--bpffs", dir.string()});
  std::error_code ec;
  fs::remove_all(dir, ec);  // pins are plain unlinks on bpffs
}

}  // namespace

std::string sh(const std::string& command) {
  auto result = run_command({"/bin/sh", "-c", command});
  if (result.code != 0) throw std::runtime_error("`" + command + "` failed: " + result.output);
  return result.output;
}

fs::path cgroup2_root() {
  std::ifstream mounts("/proc/mounts");
  std::string dev, dir, type, rest;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest))
    if (type == "cgroup2") return dir;
  throw std::runtime_error("no cgroup2 mount");
}

Testbed::Testbed() {
  name_ = std::string(kPrefix) + std::to_string(getpid()) + "-" + std::to_string(++counter);
  cgroup_ = cgroup2_root() / name_;
  bpffs_ = fs::path("/sys/fs/bpf") / name_;
  manifests_ = fs::temp_directory_path() / name_;
  fs::create_directories(manifests_);
  fs::create_directory(cgroup_);
  // no route but loopback: a connect that is not translated fails here
  sh("ip netns add " + name_ + " && ip -n " + name_ + " link set lo up");
}

Testbed::~Testbed() {
  agent_.reset();  // SIGKILL: the datapath stays pinned until the uninstall below
  servers_.clear();
  remove_bpffs_dir(bpffs_);
  remove_cgroup(cgroup_);
  run_command({"/bin/sh", "-c", "ip netns del " + name_});
  std::error_code ec;
  fs::remove_all(manifests_, ec);
  fs::remove(socklb::status_file_for(bpffs_), ec);  // what the agent told `socklb status`
}

void Testbed::serve(const std::vector<std::string>& tcp, const std::vector<std::string>& udp, bool keep_open) {
  std::vector<std::string> argv = {SOCKLB_PROBE_BIN, "--netns", name_, "serve"};
  if (keep_open) argv.push_back("--keep-open");
  for (const auto* list : {&tcp, &udp}) {
    for (const auto& ep : *list) {
      std::string ip = address_of(ep);
      bool v6 = ip.find(':') != std::string::npos;
      // ignore "exists": two servers may share an address on other ports
      run_command({"/bin/sh", "-c", "ip -n " + name_ + " addr add " + ip + (v6 ? "/128 dev lo nodad" : "/32 dev lo")});
      argv.push_back(list == &tcp ? "--tcp" : "--udp");
      argv.push_back(ep);
    }
  }
  auto server = std::make_unique<ChildProcess>(argv);
  if (server->wait_for_line([](const std::string& l) { return l == "ready"; }, 0, std::chrono::seconds(5)) < 0)
    throw std::runtime_error("probe server did not start: " + server->output());
  servers_.push_back(std::move(server));
}

void Testbed::write_manifest(const std::string& file, const std::string& yaml) {
  fs::path tmp = manifests_ / ("." + file + ".tmp");
  std::ofstream(tmp) << yaml;
  fs::rename(tmp, manifests_ / file);
}

void Testbed::remove_manifest(const std::string& file) { fs::remove(manifests_ / file); }

std::vector<std::string> Testbed::agent_argv(const std::vector<std::string>& extra_args) const {
  std::vector<std::string> argv = {SOCKLB_BIN, "run", "--log-format", "json"};
  if (kubeconfig_) argv.insert(argv.end(), {"--kubeconfig", kubeconfig_->string()});
  else argv.insert(argv.end(), {"--manifests", manifests_.string()});
  // loopback, ports of the kernel's choosing: tests never collide on 10256
  argv.insert(argv.end(), {"--cgroup", cgroup_.string(), "--bpffs", bpffs_.string(), "--node-name", "node-a",
                           "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"});
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return argv;
}

void Testbed::start_agent(const std::vector<std::string>& extra_args) {
  agent_ = std::make_unique<ChildProcess>(agent_argv(extra_args));
  wait_for_sync_after(0);
}

void Testbed::launch_agent(const std::vector<std::string>& extra_args) {
  agent_ = std::make_unique<ChildProcess>(agent_argv(extra_args));
}

void Testbed::kill_agent(int sig) {
  agent_->signal(sig);
  agent_->wait();
}

int Testbed::health_port() const {
  auto http = events("http");
  if (http.empty() || !http.back()["health_port"].is_number()) throw std::runtime_error("the agent logged no health port");
  return http.back()["health_port"];
}

int Testbed::metrics_port() const {
  auto http = events("http");
  if (http.empty() || !http.back()["metrics_port"].is_number()) throw std::runtime_error("the agent logged no metrics port");
  return http.back()["metrics_port"];
}

int Testbed::syncs_logged() const { return static_cast<int>(events("sync").size()); }

nlohmann::json Testbed::wait_for_sync_after(int after, std::chrono::milliseconds timeout) {
  int seen = 0;
  int index = agent_->wait_for_line([&](const std::string& l) { return is_event(l, "sync") && ++seen > after; }, 0, timeout);
  if (index < 0) throw std::runtime_error("no sync event in time; agent output:\n" + agent_->output());
  nlohmann::json sync = *agent_event(agent_->lines()[index]);
  // what a test reads in the maps afterwards has the replaced entries gone too
  if (sync.value("removals_pending", 0) > 0) {
    int number = sync["sync"];
    int done = agent_->wait_for_line(
        [&](const std::string& l) {
          auto e = is_event(l, "cleanup") ? agent_event(l) : std::nullopt;
          return e && (*e)["sync"] == number;
        },
        index, timeout);
    if (done < 0) throw std::runtime_error("no cleanup event of sync " + std::to_string(number) +
                                           " in time; agent output:\n" + agent_->output());
  }
  return sync;
}

nlohmann::json Testbed::apply(const std::string& file, const std::string& yaml) {
  int before = syncs_logged();
  write_manifest(file, yaml);
  return wait_for_sync_after(before);
}

std::vector<nlohmann::json> Testbed::events(const std::string& name, std::size_t from) const {
  return events_in(agent_->lines(), name, from);
}

std::vector<std::string> Testbed::diagnostics(std::size_t from, const std::string& severity) const {
  std::vector<std::string> out;
  for (const auto& d : events("diagnostic", from))
    if (severity.empty() || d["severity"] == severity) out.push_back(diagnostic_text(d));
  return out;
}

std::vector<std::string> Testbed::probe_connect_argv(const std::vector<std::string>& to, const ConnectOptions& o) const {
  std::vector<std::string> argv = {SOCKLB_PROBE_BIN, "--netns", name_, "--cgroup", cgroup_.string(), "connect",
                                   "--proto", o.proto, "--count", std::to_string(o.count),
                                   "--timeout-ms", std::to_string(o.timeout_ms),
                                   "--interval-ms", std::to_string(o.interval_ms)};
  for (const auto& target : to) argv.insert(argv.end(), {"--to", target});
  if (o.v4_mapped) argv.push_back("--v4-mapped");
  if (o.reuse_socket) argv.push_back("--reuse-socket");
  return argv;
}

std::vector<Attempt> Testbed::connect(const std::string& to, const ConnectOptions& o) {
  return connect(std::vector<std::string>{to}, o);
}

std::vector<Attempt> Testbed::connect(const std::vector<std::string>& to, const ConnectOptions& o) {
  auto result = run_command(probe_connect_argv(to, o));
  if (result.code != 0) throw std::runtime_error("probe failed: " + result.output);
  std::vector<std::string> lines;
  std::istringstream in(result.output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return parse_attempts(lines);
}

std::vector<Attempt> parse_attempts(const std::vector<std::string>& probe_lines) {
  std::vector<Attempt> attempts;
  for (const auto& line : probe_lines) {
    auto j = nlohmann::json::parse(line);
    Attempt a;
    a.ok = j.value("ok", false);
    a.backend = j.value("backend", "");
    a.label = j.value("label", "");
    a.peer = j.value("peer", "");
    a.error = j.value("error", "");
    a.to = j.value("to", "");
    a.ms = j.value("ms", 0.0);
    a.started = std::chrono::steady_clock::time_point(std::chrono::microseconds(j.value("t_us", int64_t{0})));
    attempts.push_back(a);
  }
  return attempts;
}

CommandResult Testbed::socklb(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SOCKLB_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--bpffs", bpffs_.string()});
  return run_command(argv);
}

nlohmann::json Testbed::services() {
  auto result = socklb({"services", "-o", "json"});
  if (result.code != 0) throw std::runtime_error("socklb services failed: " + result.output);
  return nlohmann::json::parse(result.output);
}

void Testbed::sweep_leftovers() {
  auto stale = [](const std::string& name) {
    static const std::regex pattern(std::string(kPrefix) + "([0-9]+)-[0-9]+");
    std::smatch m;
    return std::regex_match(name, m, pattern) && std::stoi(m[1]) != getpid() && !fs::exists("/proc/" + m[1].str());
  };
  for (const auto& dir : {fs::path("/sys/fs/bpf"), cgroup2_root(), fs::temp_directory_path()}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename();
      if (!stale(name)) continue;
      if (dir == "/sys/fs/bpf") {
        remove_bpffs_dir(entry.path());
        fs::remove(socklb::status_file_for(entry.path()), ec);
      }
      else if (dir == cgroup2_root()) remove_cgroup(entry.path());
      else fs::remove_all(entry.path(), ec);
    }
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/etc/netns", ec))  // a resolver's (hosts_file_test.cpp)
    if (stale(entry.path().filename())) fs::remove_all(entry.path(), ec);
  std::istringstream netns(run_command({"/bin/sh", "-c", "ip netns list"}).output);
  std::string name, rest;
  while (netns >> name && std::getline(netns, rest))
    if (stale(name)) run_command({"/bin/sh", "-c", "ip netns del " + name});
}

}  // namespace kt
