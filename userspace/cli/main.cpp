// socklb: the command line. Parsing only; the work is in agent/ and commands.cpp.

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdarg>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "agent/event_log.h"
#include "agent/agent_events.h"
#include "cli/commands.h"
#include "cli/trace_command.h"
#include "kernel/preflight.h"
#include "kube/kubeconfig.h"

namespace {

using namespace socklb;

int libbpf_to_spdlog(libbpf_print_level level, const char* format, va_list args) {
  char buf[4096];
  vsnprintf(buf, sizeof(buf), format, args);
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (level == LIBBPF_WARN) spdlog::warn("libbpf: {}", line);
  else spdlog::debug("libbpf: {}", line);
  return 0;
}

void setup_logs(const std::string& level, LogFormat format) {
  setup_logging(spdlog::level::from_str(level), format);
  libbpf_set_print(libbpf_to_spdlog);
}

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

struct RunFlags {
  std::string manifests, kubeconfig, api_server, cgroup, bpffs = kDefaultBpffsDir.string(), node_name = host_name(), zone;
  std::vector<std::string> service_cidrs = {"10.96.0.0/12", "fd00:10:96::/108"};
  MapCapacities capacities;
  std::string log_format = "text";
  unsigned full_resync_sec = 3600;
  std::string health_addr = "0.0.0.0:10256", metrics_addr = "127.0.0.1:10249";
  unsigned health_timeout_sec = 60;
  bool metrics_per_service = false;
  std::string hosts_file, cluster_domain = "cluster.local";
};

int run_command(const RunFlags& flags) {
  AgentOptions options;
  options.manifests = flags.manifests;
  if (!flags.kubeconfig.empty()) {
    options.api = load_kubeconfig(flags.kubeconfig);
    if (!flags.api_server.empty()) options.api->server = checked_server_url(flags.api_server, "--api-server");
  } else if (flags.manifests.empty()) {
    if (flags.api_server.empty())
      throw std::runtime_error("socklb run needs where services come from: --manifests PATH (files), --kubeconfig FILE "
                               "(a Kubernetes API server), or in a pod --api-server https://HOST:PORT (with the pod's "
                               "service account)");
    options.api = in_cluster_access(flags.api_server);
  }
  options.bpffs_dir = flags.bpffs;
  options.cgroup = flags.cgroup.empty() ? find_cgroup2_root() : std::filesystem::path(flags.cgroup);
  options.capacities = flags.capacities;
  options.full_resync = std::chrono::seconds(flags.full_resync_sec);
  options.health_addr = flags.health_addr;
  options.metrics_addr = flags.metrics_addr;
  options.metrics_per_service = flags.metrics_per_service;
  options.health_timeout = std::chrono::seconds(flags.health_timeout_sec);
  options.hosts_file = flags.hosts_file;
  options.cluster_domain = flags.cluster_domain;
  if (!flags.hosts_file.empty() && !std::filesystem::is_directory(options.hosts_file.parent_path().empty()
                                                                      ? std::filesystem::path(".")
                                                                      : options.hosts_file.parent_path()))
    throw std::runtime_error("--hosts-file " + flags.hosts_file + ": its directory does not exist; create it first");
  options.reconcile.node = {flags.node_name, flags.zone};
  for (const auto& text : flags.service_cidrs) {
    auto cidr = Cidr::parse(text);
    if (!cidr) throw CLI::ValidationError("--service-cidr", "\"" + text + "\" is not a CIDR such as 10.96.0.0/12");
    options.reconcile.service_cidrs.push_back(*cidr);
  }
  return run_agent(options);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"socklb: Kubernetes ClusterIP load balancing in the kernel at connect() time"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();

  RunFlags run;
  auto* run_cmd = app.add_subcommand("run", "Serve the services of Kubernetes manifests or of an API server (foreground agent)");
  auto* manifests_opt =
      run_cmd->add_option("--manifests", run.manifests, "YAML file or directory (read recursively, watched for changes)");
  auto* kubeconfig_opt = run_cmd->add_option(
      "--kubeconfig", run.kubeconfig,
      "serve the services of a Kubernetes API server: a kubeconfig (YAML or JSON; its current-context's server, CA "
      "and token, tokenFile or client certificate). Without it or --manifests: in-cluster (the pod's service "
      "account; needs --api-server)");
  auto* api_server_opt = run_cmd->add_option(
      "--api-server", run.api_server,
      "the API server's real address, https://HOST:PORT (in a pod; overrides the kubeconfig's server). Not the "
      "kubernetes Service's ClusterIP: socklb itself translates ClusterIPs");
  manifests_opt->excludes(kubeconfig_opt)->excludes(api_server_opt);
  run_cmd->add_option("--cgroup", run.cgroup, "cgroup v2 directory to attach to [default: the cgroup v2 root]");
  run_cmd->add_option("--bpffs", run.bpffs, "directory for the pinned maps and links")->capture_default_str();
  run_cmd->add_option("--service-cidr", run.service_cidrs, "ClusterIP ranges accepted (repeat for each)")
      ->capture_default_str();
  run_cmd->add_option("--node-name", run.node_name, "this node, for internalTrafficPolicy: Local")->capture_default_str();
  run_cmd->add_option("--zone", run.zone, "this node's zone, for topology hints [default: hints unused]");
  // the arrays are preallocated: 256 bytes of kernel memory per service port
  // and 64 per backend of capacity (4 and 2 entries each, see map_layout.h),
  // and the service counters 4 x 24 bytes per service port and CPU
  run_cmd->add_option("--max-services", run.capacities.services,
                      "capacity: service ports per IP family (256 bytes of kernel memory each, and 96 per CPU for "
                      "their counters, preallocated)")
      ->check(CLI::Range(1u, 1u << 20))->capture_default_str();
  run_cmd->add_option("--max-backends", run.capacities.backends,
                      "capacity: backends over all services (64 bytes of kernel memory each, preallocated)")
      ->check(CLI::Range(1u, 1u << 23))->capture_default_str();
  run_cmd->add_option("--max-affinity", run.capacities.affinity, "capacity: remembered ClientIP affinities")
      ->check(CLI::Range(1u, 1u << 24))->capture_default_str();
  run_cmd->add_option("--max-socket-flows", run.capacities.socket_flows,
                      "capacity: ClusterIP:ports of UDP sockets that talk to more than 4, node-wide")
      ->check(CLI::Range(1u, 1u << 24))->capture_default_str();

  run_cmd->add_option("--full-resync", run.full_resync_sec,
                      "seconds between full resyncs: every service reconciled anew and compared with the maps read "
                      "back, repairing any drift (changes are applied as they come, not by this; at 100k services "
                      "one takes seconds, during which changes wait)")
      ->check(CLI::Range(1u, 86400u))->capture_default_str();
  run_cmd->add_option("--health-addr", run.health_addr,
                      "HOST:PORT of /healthz (200 once a complete state is applied and the programs act on the "
                      "cgroup, else 503 with the reason) and /livez; '' turns it off")
      ->capture_default_str();
  run_cmd->add_option("--metrics-addr", run.metrics_addr, "HOST:PORT of /metrics (Prometheus text format); '' turns it off")
      ->capture_default_str();
  run_cmd->add_flag("--metrics-per-service", run.metrics_per_service,
                    "/metrics also has the counters of each service port (ClusterIP:port), not only their totals: "
                    "three series per service port");
  run_cmd->add_option("--health-timeout", run.health_timeout_sec,
                      "seconds a received change may wait to be applied before /healthz reports 503")
      ->check(CLI::Range(1u, 86400u))->capture_default_str();
  run_cmd->add_option("--hosts-file", run.hosts_file,
                      "keep a hosts-format file of every served service (<ClusterIP> <name>.<ns>.svc.<domain> "
                      "<name>.<ns>.svc), rewritten atomically after a sync that changes it: serve it with dnsmasq "
                      "--hostsdir for service DNS names without Kubernetes");
  run_cmd->add_option("--cluster-domain", run.cluster_domain, "the DNS domain of --hosts-file's names")
      ->capture_default_str();
  run_cmd->add_option("--log-format", run.log_format, "text (for people) or json (one event per line, docs/events.md)")
      ->check(CLI::IsMember({"text", "json"}))->capture_default_str();

  std::string services_bpffs = kDefaultBpffsDir.string(), output = "table";
  auto* services_cmd = app.add_subcommand("services", "Show what the kernel serves now, read from the pinned maps");
  services_cmd->add_option("--bpffs", services_bpffs, "directory of the pinned maps")->capture_default_str();
  services_cmd->add_option("-o,--output", output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))->capture_default_str();

  std::string explain_bpffs = kDefaultBpffsDir.string(), explain_output = "table", destination;
  auto* explain_cmd = app.add_subcommand(
      "explain", "What a connect to ADDRESS:PORT[/tcp|udp] from the served cgroup would do now, read from the maps: "
                 "left alone, translated to which backends, or refused and why");
  explain_cmd->add_option("destination", destination, "ADDRESS:PORT[/tcp|udp], e.g. 10.96.0.10:80 or [fd00::1]:53/udp")
      ->required();
  explain_cmd->add_option("--bpffs", explain_bpffs, "directory of the pinned maps")->capture_default_str();
  explain_cmd->add_option("-o,--output", explain_output, "table (text) or json")
      ->check(CLI::IsMember({"table", "json"}))->capture_default_str();

  TraceOptions trace{kDefaultBpffsDir};
  std::string trace_output = "table", trace_service;
  auto* trace_cmd = app.add_subcommand(
      "trace", "A live stream of what the programs decide: each connect or unconnected UDP send to a ClusterIP, "
               "translated to which backend or refused and why, by which process (until Ctrl-C)");
  trace_cmd->add_option("--bpffs", trace.bpffs_dir, "directory of the pinned maps")->capture_default_str();
  trace_cmd->add_option("--service", trace_service,
                        "only the decisions for this service, NAMESPACE/NAME (and refusals on its ClusterIPs of a "
                        "port it does not have)");
  trace_cmd->add_option("--count", trace.count, "stop after this many decisions [default: until Ctrl-C]");
  trace_cmd->add_option("-o,--output", trace_output, "table or json (one object per line)")
      ->check(CLI::IsMember({"table", "json"}))->capture_default_str();

  std::string status_bpffs = kDefaultBpffsDir.string(), status_output = "table";
  auto* status_cmd = app.add_subcommand(
      "status", "Is an agent running, do its programs act on the served cgroup, how did its last sync go, how full is "
                "each map; exit code 1 when something is wrong");
  status_cmd->add_option("--bpffs", status_bpffs, "directory of the pinned maps")->capture_default_str();
  status_cmd->add_option("-o,--output", status_output, "table (text) or json")
      ->check(CLI::IsMember({"table", "json"}))->capture_default_str();

  std::string uninstall_bpffs = kDefaultBpffsDir.string(), uninstall_cgroup;
  auto* uninstall_cmd = app.add_subcommand("uninstall", "Detach the programs and remove every pin");
  uninstall_cmd->add_option("--bpffs", uninstall_bpffs, "directory of the pins")->capture_default_str();
  uninstall_cmd->add_option("--cgroup", uninstall_cgroup,
                            "also detach socklb programs left attached to this cgroup without a pin");

  CLI11_PARSE(app, argc, argv);
  setup_logs(log_level, *run_cmd && run.log_format == "json" ? LogFormat::Json : LogFormat::Text);
  try {
    if (*run_cmd) return run_command(run);
    if (*services_cmd) return services_command(services_bpffs, output);
    if (*explain_cmd) return explain_command(explain_bpffs, destination, explain_output);
    if (*trace_cmd) {
      if (!trace_service.empty()) {
        trace.service = parse_service_ref(trace_service);
        if (!trace.service)
          throw CLI::ValidationError("--service", "\"" + trace_service + "\" is not NAMESPACE/NAME, such as default/web");
      }
      trace.json = trace_output == "json";
      return trace_command(trace);
    }
    if (*status_cmd) return status_command(status_bpffs, status_output);
    if (*uninstall_cmd)
      return uninstall_command(uninstall_bpffs, uninstall_cgroup.empty() ? std::nullopt
                                                                         : std::optional<std::filesystem::path>(uninstall_cgroup));
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    if (log_format() == LogFormat::Json) log_fatal(e.what());  // the last line is an event too
    else std::cerr << "socklb: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
