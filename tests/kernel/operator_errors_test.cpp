// Bad input and a wrong environment: clear errors, and nothing served is lost.

#include <doctest/doctest.h>

#include <algorithm>

#include "expectations.h"
#include "manifests.h"

using namespace kt;

namespace {

// A diagnostic the agent logged holds `text`.
void check_logged(Testbed& node, const std::string& text) {
  INFO("agent output:\n" << node.agent().output());
  auto diagnostics = node.diagnostics();
  CHECK_MESSAGE(std::any_of(diagnostics.begin(), diagnostics.end(),
                            [&](const std::string& d) { return d.find(text) != std::string::npos; }),
                "not logged: " << text);
}

}  // namespace

TEST_CASE("a broken manifest keeps its service's previous state; valid objects still apply") {
  Testbed node;
  node.serve({"10.244.1.10:8080", "10.244.1.11:8080", "10.244.2.10:8080", "10.244.2.11:8080"});
  std::string web = service("web", "10.96.0.10", kHttpPort) + pod({"web-a", "10.244.1.10"}) + pod({"web-b", "10.244.1.11"});
  node.write_manifest("web.yaml", web);
  node.write_manifest("api.yaml", service("api", "10.96.0.20", kHttpPort, "api") +
                                      pod({.name = "api-a", .ip = "10.244.2.10", .app = "api"}) +
                                      pod({.name = "api-b", .ip = "10.244.2.11", .app = "api"}));
  node.start_agent();
  auto web_served = [&] {
    auto counts = count_by_backend(node.connect("10.96.0.10:80", {.count = 40}));
    return counts["10.244.1.10:8080"] > 0 && counts["10.244.1.11:8080"] > 0 &&
           counts["10.244.1.10:8080"] + counts["10.244.1.11:8080"] == 40;
  };

  SUBCASE("invalid YAML") {
    node.apply("web.yaml", web + "---\nkind: Service\n  metadata: [unclosed\n");
    node.apply("api.yaml", service("api", "10.96.0.20", kHttpPort, "api") +
                               pod({.name = "api-a", .ip = "10.244.2.10", .app = "api"}));
    check_logged(node, "web.yaml:");
    check_logged(node, "invalid YAML");
    CHECK(web_served());
    CHECK(count_by_backend(node.connect("10.96.0.10:80", {.count = 1})).size() == 1);
    CHECK(count_by_backend(node.connect("10.96.0.20:80", {.count = 30})) ==
          std::map<std::string, int>{{"10.244.2.10:8080", 30}});  // the valid change applied
  }
  SUBCASE("a wrong type names file, line, object and field") {
    node.apply("web.yaml", service("web", "10.96.0.10", "  - {name: http, port: \"80\", targetPort: 8080}\n"));
    check_logged(node, "web.yaml:10: Service default/web: spec.ports[0].port: expected a number");
    CHECK(web_served());
  }
  SUBCASE("a ClusterIP outside the service CIDR is refused") {
    node.apply("web.yaml", service("web", "192.168.7.1", kHttpPort) + pod({"web-a", "10.244.1.10"}));
    check_logged(node, "192.168.7.1 is outside the service CIDRs");
    CHECK(web_served());
    CHECK(node.connect("192.168.7.1:80")[0].error == "ENETUNREACH");  // not hijacked
  }
  SUBCASE("a second service on the same ClusterIP:port is refused; the first keeps serving") {
    node.apply("clash.yaml", service("clash", "10.96.0.10", kHttpPort, "api"));
    check_logged(node, "10.96.0.10:80/TCP is also defined by default/web");
    CHECK(web_served());
  }
  SUBCASE("a pod whose address is another service's ClusterIP is left out: no loop") {
    node.apply("web.yaml", web + pod({"web-loop", "10.96.0.20"}));
    check_logged(node, "10.96.0.20 is itself a ClusterIP");
    CHECK(web_served());
  }
  CHECK(node.agent().running());
}

TEST_CASE("the CLI names the problem and the fix") {
  SUBCASE("a manifests path that does not exist") {
    auto r = run_command({SOCKLB_BIN, "run", "--manifests", "/nonexistent/socklb", "--bpffs", "/sys/fs/bpf/slbt-never"});
    CHECK(r.code == 1);
    CHECK(r.output.find("manifests path /nonexistent/socklb does not exist") != std::string::npos);
  }
  SUBCASE("services with nothing installed") {
    auto r = run_command({SOCKLB_BIN, "services", "--bpffs", "/sys/fs/bpf/slbt-never"});
    CHECK(r.code == 1);
    CHECK(r.output.find("socklb run") != std::string::npos);
  }
  SUBCASE("not root") {
    auto r = run_command({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                          SOCKLB_BIN, "run", "--manifests", "/", "--bpffs", "/sys/fs/bpf/slbt-never"});
    CHECK(r.code == 1);
    CHECK(r.output.find("needs root") != std::string::npos);
  }
  SUBCASE("--help is there for every command") {
    for (const char* cmd : {"run", "services", "uninstall"}) {
      auto r = run_command({SOCKLB_BIN, cmd, "--help"});
      CHECK(r.code == 0);
      CHECK(r.output.find("--bpffs") != std::string::npos);
    }
  }
}
