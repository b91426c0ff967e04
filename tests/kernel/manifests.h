#pragma once
// Manifest snippets for the kernel tests, so each test reads as its scenario.

#include <string>
#include <vector>

namespace kt {

struct PodSpec {
  std::string name;
  std::string ip;            // status.podIP (IPv4 or IPv6)
  std::string ip6;           // optional second podIPs entry
  std::string app = "web";   // label app=
  bool ready = true;
  bool terminating = false;
  std::string node = "node-a";
  std::string ports_yaml = "    - {name: http, containerPort: 8080}\n";
};

inline std::string pod(const PodSpec& p) {
  std::string ips = "  podIP: " + p.ip + "\n  podIPs:\n  - ip: " + p.ip + "\n";
  if (!p.ip6.empty()) ips += "  - ip: " + p.ip6 + "\n";
  return "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: " + p.name + "\n  labels: {app: " + p.app + "}\n" +
         (p.terminating ? "  deletionTimestamp: \"2026-01-01T00:00:00Z\"\n" : "") + "spec:\n  nodeName: " + p.node +
         "\n  containers:\n  - name: app\n    ports:\n" + p.ports_yaml + "status:\n  phase: Running\n" + ips +
         "  conditions:\n  - {type: Ready, status: \"" + (p.ready ? "True" : "False") + "\"}\n";
}

// A ClusterIP service selecting app=<app>; ports_yaml lists spec.ports entries.
inline std::string service(const std::string& name, const std::string& cluster_ip, const std::string& ports_yaml,
                           const std::string& app = "web", const std::string& extra_spec = "") {
  return "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  clusterIP: " + cluster_ip +
         "\n  selector: {app: " + app + "}\n  ports:\n" + ports_yaml + extra_spec;
}

inline const std::string kHttpPort = "  - {name: http, port: 80, targetPort: 8080}\n";

}  // namespace kt
