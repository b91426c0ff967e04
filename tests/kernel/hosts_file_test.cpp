// --hosts-file: service DNS names in standalone mode, served by an existing
// resolver (dnsmasq --hostsdir) inside the client's namespace, and a connect
// by name that reaches the pod.

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "expectations.h"
#include "manifests.h"
#include "temp_dir.h"
#include "testbed.h"

using namespace kt;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// /etc/netns/NAME/resolv.conf: what `ip netns exec NAME` shows its commands
// as /etc/resolv.conf. The namespace's own dnsmasq on its loopback, and the
// search path a pod in namespace `default` has.
class NamespaceResolver {
 public:
  NamespaceResolver(const std::string& netns, const fs::path& hosts_dir) : dir_(fs::path("/etc/netns") / netns) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "resolv.conf") << "nameserver 127.0.0.1\n"
                                           "search default.svc.cluster.local svc.cluster.local cluster.local\n"
                                           "options ndots:5\n";
    // no upstream servers, no /etc/hosts: it answers the hosts dir or nothing
    dnsmasq_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        "/usr/sbin/ip", "netns", "exec", netns, "/usr/sbin/dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
        "--no-poll", "--hostsdir=" + hosts_dir.string(), "--listen-address=127.0.0.1", "--bind-interfaces",
        "--user=root", "--pid-file="});
    // it logs each hosts file it reads: then it answers
    if (dnsmasq_->wait_for_line([](const std::string& l) { return l.find("read ") != std::string::npos; }, 0, 10s) < 0)
      throw std::runtime_error("dnsmasq did not start: " + dnsmasq_->output());
  }
  ~NamespaceResolver() {
    dnsmasq_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

 private:
  fs::path dir_;
  std::unique_ptr<ChildProcess> dnsmasq_;
};

}  // namespace

TEST_CASE("--hosts-file: names for every served service; dnsmasq serves them; a connect by short name reaches the pod") {
  Testbed node;
  socklb::test::TempDir dns;
  fs::path hosts = dns.path() / "socklb.hosts";
  node.serve({"10.244.1.10:8080"});
  node.write_manifest("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}) +
                                      service("api", "10.96.0.20", kHttpPort, "api"));
  node.start_agent({"--hosts-file", hosts.string()});
  std::string text = read_file(hosts);
  CAPTURE(text);
  CHECK(text.find("\n10.96.0.10 web.default.svc.cluster.local web.default.svc\n") != std::string::npos);
  CHECK(text.find("\n10.96.0.20 api.default.svc.cluster.local api.default.svc\n") != std::string::npos);

  NamespaceResolver resolver(node.netns(), dns.path());
  CommandResult short_name = run_command({"/usr/sbin/ip", "netns", "exec", node.netns(), "/usr/bin/getent", "hosts", "web"});
  CHECK(short_name.output.find("10.96.0.10") == 0);
  // the shell joins the served cgroup, then `ip netns exec` gives the probe
  // the namespace's resolv.conf (it remounts /sys, so the probe could not
  // join the cgroup itself there)
  CommandResult probe = run_command(
      {"/bin/sh", "-c",
       "echo $$ > " + node.cgroup().string() + "/cgroup.procs && exec /usr/sbin/ip netns exec " + node.netns() + " " +
           SOCKLB_PROBE_BIN + " connect --to web:80"});
  CAPTURE(probe.output);
  REQUIRE(probe.code == 0);
  std::vector<std::string> lines;
  std::istringstream out(probe.output);
  for (std::string line; std::getline(out, line);) lines.push_back(line);
  auto attempts = parse_attempts(lines);
  REQUIRE(attempts.size() == 1);
  CHECK(attempts[0].backend == "10.244.1.10:8080");

  // a service gone: its names go with the next sync
  node.apply("web.yaml", service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}));
  text = read_file(hosts);
  CHECK(text.find("api.default") == std::string::npos);
  CHECK(text.find("web.default.svc.cluster.local") != std::string::npos);
}
