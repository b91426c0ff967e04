// reconcile(): where each service port's backends come from (selected Pods,
// EndpointSlices, core/v1 Endpoints) and which of them are used.

#include "desired_helpers.h"

using namespace socklb;
using namespace socklb::test;

namespace {

constexpr const char* kReady = "conditions: [{type: Ready, status: \"True\"}]";
constexpr const char* kNotReady = "conditions: [{type: Ready, status: \"False\"}]";

std::string pod(const std::string& name, const std::string& ip, const std::string& status = kReady,
                const std::string& labels = "{app: user}", const std::string& ns = "default",
                const std::string& ports = "[{name: http, containerPort: 8080}]") {
  return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: " + labels +
         "}\nspec: {nodeName: node-a, containers: [{ports: " + ports + "}]}\nstatus: {podIP: \"" + ip +
         "\", " + status + "}\n";
}

const std::string kUserService = R"(apiVersion: v1
kind: Service
metadata: {name: user-service}
spec:
  clusterIP: 10.96.0.10
  selector: {app: user}
  ports: [{name: http, port: 80, targetPort: 8080}]
)";

}  // namespace

TEST_CASE("the classic example: a Service's selector picks its ready Pods") {
  auto desired = reconcile_text(kUserService + pod("user-1", "10.244.0.2") + pod("user-2", "10.244.0.1") +
                                pod("other", "10.244.0.3", kReady, "{app: payment}") +
                                pod("elsewhere", "10.244.0.4", kReady, "{app: user}", "shop"));
  CHECK(keys(desired) == Strings{"10.96.0.10:80/TCP"});
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.0.1:8080", "10.244.0.2:8080"});
  const DesiredService& svc = desired.services.at(key("10.96.0.10", 80));
  CHECK(svc.ref == ServiceRef{"default", "user-service"});
  CHECK(svc.port_name == "http");
  CHECK(svc.affinity_timeout_sec == 0);
  CHECK(desired.diagnostics.empty());
  CHECK(desired.held.empty());
  CHECK_FALSE(desired.hold_everything);
}

TEST_CASE("Pod states: not ready, terminating, finished") {
  SUBCASE("a not-ready pod is not used") {
    auto desired = reconcile_text(kUserService + pod("a", "10.244.0.1") + pod("b", "10.244.0.2", kNotReady));
    CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.0.1:8080"});
  }
  SUBCASE("a finished pod is never used, even if it says Ready") {
    auto desired = reconcile_text(kUserService + pod("a", "10.244.0.1", std::string(kReady) + ", phase: Succeeded") +
                                  pod("b", "10.244.0.2", std::string(kReady) + ", phase: Failed"));
    CHECK(backends(desired, key("10.96.0.10", 80)).empty());
  }
  SUBCASE("a terminating pod serves only while no pod is ready") {
    std::string deleting = pod("old", "10.244.0.1");
    deleting.replace(deleting.find("labels:"), 0, "deletionTimestamp: \"2024-01-01T00:00:00Z\", ");
    auto desired = reconcile_text(kUserService + deleting + pod("new", "10.244.0.2"));
    CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.0.2:8080"});
    desired = reconcile_text(kUserService + deleting + pod("new", "10.244.0.2", kNotReady));
    CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.0.1:8080 terminating"});
  }
  SUBCASE("publishNotReadyAddresses: not-ready and terminating pods count as ready") {
    std::string svc = kUserService;
    svc.replace(svc.find("  ports:"), 0, "  publishNotReadyAddresses: true\n");
    std::string deleting = pod("old", "10.244.0.3");
    deleting.replace(deleting.find("labels:"), 0, "deletionTimestamp: \"2024-01-01T00:00:00Z\", ");
    auto desired = reconcile_text(svc + pod("a", "10.244.0.1") + pod("b", "10.244.0.2", kNotReady) + deleting);
    CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.0.1:8080", "10.244.0.2:8080", "10.244.0.3:8080"});
  }
}

TEST_CASE("a named targetPort resolves per pod, by name and protocol") {
  std::string svc = kUserService;
  svc.replace(svc.find("targetPort: 8080"), 16, "targetPort: web");
  auto desired = reconcile_text(svc + pod("a", "10.244.0.1", kReady, "{app: user}", "default", "[{name: web, containerPort: 8080}]") +
                                pod("b", "10.244.0.2", kReady, "{app: user}", "default", "[{name: web, containerPort: 9090}]") +
                                pod("c", "10.244.0.3", kReady, "{app: user}", "default", "[{name: other, containerPort: 80}]") +
                                pod("d", "10.244.0.4", kReady, "{app: user}", "default",
                                    "[{name: web, containerPort: 7070, protocol: UDP}]"));
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.0.1:8080", "10.244.0.2:9090"});
}

TEST_CASE("a named targetPort resolves against sidecars too (initContainers with restartPolicy Always), as FindPort does") {
  std::string svc = kUserService;
  svc.replace(svc.find("targetPort: 8080"), 16, "targetPort: web");
  auto with_spec = [](const std::string& name, const std::string& ip, const std::string& spec) {
    return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", labels: {app: user}}\nspec:\n" + spec +
           "status: {podIP: \"" + ip + "\", " + kReady + "}\n";
  };
  auto desired = reconcile_text(
      svc +
      with_spec("sidecar", "10.244.0.1",
                "  containers: [{name: app, ports: [{name: other, containerPort: 80}]}]\n"
                "  initContainers: [{name: proxy, restartPolicy: Always, ports: [{name: web, containerPort: 15001}]}]\n") +
      with_spec("init-only", "10.244.0.2",
                "  containers: [{name: app}]\n"
                "  initContainers: [{name: setup, ports: [{name: web, containerPort: 9999}]}]\n") +
      with_spec("container-first", "10.244.0.3",
                "  initContainers: [{name: proxy, restartPolicy: Always, ports: [{name: web, containerPort: 15001}]}]\n"
                "  containers: [{name: app, ports: [{name: web, containerPort: 8080}]}]\n") +
      with_spec("sidecar-udp", "10.244.0.4",
                "  initContainers: [{name: proxy, restartPolicy: Always, ports: [{name: web, containerPort: 53, "
                "protocol: UDP}]}]\n"));
  // a regular init container has exited before the pod serves; the pod's
  // containers are searched before its sidecars; the protocol must match
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.0.1:15001", "10.244.0.3:8080"});
}

TEST_CASE("multi-port services, and TCP and UDP on one port number") {
  auto desired = reconcile_text(R"(apiVersion: v1
kind: Service
metadata: {name: dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.10
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 5353}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 5354}
  - {name: metrics, port: 9153}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-1, namespace: kube-system, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
endpoints: [{addresses: [10.244.0.5]}, {addresses: [10.244.0.6]}]
ports:
- {name: dns, port: 5353, protocol: UDP}
- {name: dns-tcp, port: 5354, protocol: TCP}
- {name: metrics, port: 9153}
- {name: dns, port: 1111, protocol: TCP}
)");
  CHECK(keys(desired) == Strings{"10.96.0.10:53/TCP", "10.96.0.10:53/UDP", "10.96.0.10:9153/TCP"});
  CHECK(backends(desired, key("10.96.0.10", 53, Protocol::UDP)) == Strings{"10.244.0.5:5353", "10.244.0.6:5353"});
  CHECK(backends(desired, key("10.96.0.10", 53, Protocol::TCP)) == Strings{"10.244.0.5:5354", "10.244.0.6:5354"});
  CHECK(backends(desired, key("10.96.0.10", 9153)) == Strings{"10.244.0.5:9153", "10.244.0.6:9153"});
  CHECK(desired.services.at(key("10.96.0.10", 53, Protocol::UDP)).port_name == "dns");
}

TEST_CASE("EndpointSlices: they take precedence over pods, and merge by the service-name label") {
  auto desired = reconcile_text(kUserService + pod("a", "10.244.0.1") + R"(---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: user-abc, labels: {kubernetes.io/service-name: user-service}}
addressType: IPv4
endpoints: [{addresses: [10.244.1.1]}, {addresses: [10.244.1.2], conditions: {ready: false}}]
ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: user-def, labels: {kubernetes.io/service-name: user-service}}
addressType: IPv4
endpoints: [{addresses: [10.244.2.1]}, {addresses: [10.244.1.1]}]
ports: [{name: http, port: 8081}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: payment-abc, labels: {kubernetes.io/service-name: payment}}
addressType: IPv4
endpoints: [{addresses: [10.244.3.1]}]
ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: user-abc, namespace: shop, labels: {kubernetes.io/service-name: user-service}}
addressType: IPv4
endpoints: [{addresses: [10.244.4.1]}]
ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: user-metrics, labels: {kubernetes.io/service-name: user-service}}
addressType: IPv4
endpoints: [{addresses: [10.244.5.1]}]
ports: [{name: metrics, port: 9090}]
)");
  // the pod is ignored; each slice's port number applies to its own endpoints
  CHECK(backends(desired, key("10.96.0.10", 80)) ==
        Strings{"10.244.1.1:8080", "10.244.1.1:8081", "10.244.2.1:8081"});
}

TEST_CASE("core/v1 Endpoints: every address times every port; notReadyAddresses unused; slices win") {
  const std::string endpoints = R"(---
apiVersion: v1
kind: Endpoints
metadata: {name: user-service}
subsets:
- addresses: [{ip: 10.244.0.1}, {ip: 10.244.0.2}]
  notReadyAddresses: [{ip: 10.244.0.3}]
  ports: [{name: http, port: 8080}, {name: admin, port: 9000}]
- addresses: [{ip: 10.244.0.4}]
  ports: [{name: http, port: 8081}]
)";
  auto desired = reconcile_text(kUserService + pod("a", "10.244.9.9") + endpoints);
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.0.1:8080", "10.244.0.2:8080", "10.244.0.4:8081"});

  desired = reconcile_text(kUserService + endpoints + R"(---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: user-abc, labels: {kubernetes.io/service-name: user-service}}
addressType: IPv4
endpoints: [{addresses: [10.244.1.1]}]
ports: [{name: http, port: 8080}]
)");
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.1.1:8080"});
}

TEST_CASE("a service without selector or endpoints is served with no backend (connects are refused)") {
  auto desired = reconcile_text(R"(apiVersion: v1
kind: Service
metadata: {name: manual}
spec: {clusterIP: 10.96.0.20, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: empty-selector}
spec: {clusterIP: 10.96.0.21, selector: {}, ports: [{port: 80}]}
)" + pod("a", "10.244.0.1"));
  CHECK(backends(desired, key("10.96.0.20", 80)).empty());
  CHECK(backends(desired, key("10.96.0.21", 80)).empty());
}

TEST_CASE("session affinity: ClientIP with the default or a custom timeout") {
  auto desired = reconcile_text(R"(apiVersion: v1
kind: Service
metadata: {name: a}
spec: {clusterIP: 10.96.0.1, sessionAffinity: ClientIP, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec:
  clusterIP: 10.96.0.2
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}}
  ports: [{port: 80}]
)");
  CHECK(desired.services.at(key("10.96.0.1", 80)).affinity_timeout_sec == 10800);
  CHECK(desired.services.at(key("10.96.0.2", 80)).affinity_timeout_sec == 30);
}

TEST_CASE("dual-stack: one key per ClusterIP, each with the backends of its family") {
  auto desired = reconcile_text(R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIPs: [10.96.0.30, "fd00:10:96::30"]
  ipFamilies: [IPv4, IPv6]
  selector: {app: user}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: user}}
status: {podIPs: [{ip: 10.244.0.1}, {ip: "fd00::1"}], conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, labels: {app: user}}
status: {podIPs: [{ip: "fd00::2"}], conditions: [{type: Ready, status: "True"}]}
)");
  CHECK(keys(desired) == Strings{"10.96.0.30:80/TCP", "[fd00:10:96::30]:80/TCP"});
  CHECK(backends(desired, key("10.96.0.30", 80)) == Strings{"10.244.0.1:8080"});
  CHECK(backends(desired, key("fd00:10:96::30", 80)) == Strings{"[fd00::1]:8080", "[fd00::2]:8080"});
}

TEST_CASE("internalTrafficPolicy Local and topology hints use this node's identity") {
  const std::string text = R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.96.0.40, internalTrafficPolicy: Local, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.244.0.1], nodeName: node-a}
- {addresses: [10.244.0.2], nodeName: node-b}
ports: [{port: 80}]
)";
  CHECK(backends(reconcile_text(text, {}, settings("node-a")), key("10.96.0.40", 80)) == Strings{"10.244.0.1:80"});
  CHECK(backends(reconcile_text(text, {}, settings("node-b")), key("10.96.0.40", 80)) == Strings{"10.244.0.2:80"});
  CHECK(backends(reconcile_text(text, {}, settings("node-c")), key("10.96.0.40", 80)).empty());
}

TEST_CASE("a backend that is itself a service address is left out with an error (no loops)") {
  // user-1 claims the ClusterIP of another service; user-2 an unallocated
  // address inside the service CIDR; user-3 is a real pod address.
  auto desired = reconcile_text(kUserService + pod("user-1", "10.96.0.99") + pod("user-2", "10.100.0.1") +
                                pod("user-3", "10.244.0.3") + R"(---
apiVersion: v1
kind: Service
metadata: {name: other}
spec: {clusterIP: 10.96.0.99, ports: [{port: 80}]}
)");
  CHECK(backends(desired, key("10.96.0.10", 80)) == std::vector<std::string>{"10.244.0.3:8080"});
  REQUIRE(desired.diagnostics.size() == 1);
  const auto& d = desired.diagnostics[0];
  CHECK(d.severity == Diagnostic::Severity::Error);
  CHECK(d.object == "Service default/user-service");
  CHECK(d.field == "endpoints");
  CHECK(d.message.find("10.96.0.99 is itself a ClusterIP; 10.100.0.1 is inside the service CIDRs") != std::string::npos);
}
