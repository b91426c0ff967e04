// reconcile(): services that are skipped, refused, held or in conflict.

#include "desired_helpers.h"

using namespace socklb;
using namespace socklb::test;

namespace {

std::string service(const std::string& name, const std::string& spec, const std::string& meta_extra = "") {
  return "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name + meta_extra + "}\nspec: " + spec + "\n";
}

}  // namespace

TEST_CASE("services another proxy or nobody proxies are skipped; our proxy name is served") {
  struct Case {
    const char* what;
    std::string text;
    bool served;
  };
  const std::string spec = "{clusterIP: 10.96.0.1, ports: [{port: 80}]}";
  const Case cases[] = {
      {"plain", service("s", spec), true},
      {"headless", service("s", "{clusterIP: None, ports: [{port: 80}]}"), false},
      {"ExternalName", service("s", "{type: ExternalName, externalName: example.com}"), false},
      {"another proxy", service("s", spec, ", labels: {service.kubernetes.io/service-proxy-name: cilium}"), false},
      {"our proxy", service("s", spec, ", labels: {service.kubernetes.io/service-proxy-name: socklb}"), true},
      {"headless label", service("s", spec, ", labels: {service.kubernetes.io/headless: \"\"}"), false},
      {"NodePort has a ClusterIP too", service("s", "{type: NodePort, clusterIP: 10.96.0.1, ports: [{port: 80}]}"), true},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    auto desired = reconcile_text(c.text);
    CHECK(desired.services.count(key("10.96.0.1", 80)) == (c.served ? 1u : 0u));
    CHECK(desired.held.empty());  // skipped is not held: whatever the kernel has for it goes
    CHECK(desired.diagnostics.empty());
  }
}

TEST_CASE("a ClusterIP outside the service CIDRs is refused and the service held") {
  auto desired = reconcile_text(service("outside", "{clusterIP: 192.168.1.1, ports: [{port: 80}]}") +
                                service("v6-outside", "{clusterIPs: [10.96.0.2, \"2001:db8::1\"], ports: [{port: 80}]}") +
                                service("inside", "{clusterIP: 10.96.0.3, ports: [{port: 80}]}"));
  CHECK(keys(desired) == Strings{"10.96.0.3:80/TCP"});  // a half-allowed dual-stack service is refused whole
  CHECK(desired.held == std::set<ServiceRef>{{"default", "outside"}, {"default", "v6-outside"}});
  CHECK(has_diagnostic(desired, Diagnostic::Severity::Error, "Service default/outside", "--service-cidr"));
  CHECK(has_diagnostic(desired, Diagnostic::Severity::Error, "Service default/v6-outside", "2001:db8::1"));

  auto custom = settings();
  custom.service_cidrs = {*Cidr::parse("192.168.0.0/16")};
  desired = reconcile_text(service("outside", "{clusterIP: 192.168.1.1, ports: [{port: 80}]}"), {}, custom);
  CHECK(keys(desired) == Strings{"192.168.1.1:80/TCP"});
}

TEST_CASE("a service without a ClusterIP is a warning, neither served nor held") {
  auto desired = reconcile_text(service("no-ip", "{ports: [{port: 80}]}") + service("empty", "{clusterIP: \"\", ports: [{port: 80}]}"));
  CHECK(desired.services.empty());
  CHECK(desired.held.empty());
  CHECK(has_diagnostic(desired, Diagnostic::Severity::Warning, "Service default/no-ip", "not served"));
  CHECK(has_diagnostic(desired, Diagnostic::Severity::Warning, "Service default/empty", "not served"));
}

TEST_CASE("an SCTP port is warned about and skipped; the other ports serve") {
  auto desired = reconcile_text(service(
      "mixed", "{clusterIP: 10.96.0.1, ports: [{name: a, port: 80}, {name: b, port: 80, protocol: SCTP}, {name: c, port: 53, protocol: UDP}]}"));
  CHECK(keys(desired) == Strings{"10.96.0.1:53/UDP", "10.96.0.1:80/TCP"});
  CHECK(has_diagnostic(desired, Diagnostic::Severity::Warning, "Service default/mixed", "SCTP"));
  CHECK(desired.held.empty());
}

TEST_CASE("two services on one ClusterIP:port: the one serving it now keeps it, else neither") {
  const std::string text = service("a", "{clusterIP: 10.96.0.1, ports: [{port: 80}]}") +
                           service("b", "{clusterIP: 10.96.0.1, ports: [{name: x, port: 80}, {name: y, port: 81}]}") +
                           service("c", "{clusterIP: 10.96.0.1, ports: [{port: 82}]}");
  SUBCASE("b serves it now") {
    auto desired = reconcile_text(text, {{key("10.96.0.1", 80), {"default", "b"}}});
    CHECK(keys(desired) == Strings{"10.96.0.1:80/TCP", "10.96.0.1:81/TCP", "10.96.0.1:82/TCP"});
    CHECK(desired.services.at(key("10.96.0.1", 80)).ref.name == "b");
    CHECK(desired.held == std::set<ServiceRef>{{"default", "a"}});
    CHECK(has_diagnostic(desired, Diagnostic::Severity::Error, "Service default/a", "also defined by default/b"));
  }
  SUBCASE("nobody serves it: neither gets it, the bystander on another port is served") {
    auto desired = reconcile_text(text);
    CHECK(keys(desired) == Strings{"10.96.0.1:82/TCP"});
    CHECK(desired.held == std::set<ServiceRef>{{"default", "a"}, {"default", "b"}});
  }
  SUBCASE("a third service serves it: both claimants lose") {
    auto desired = reconcile_text(text, {{key("10.96.0.1", 80), {"default", "gone"}}});
    CHECK(keys(desired) == Strings{"10.96.0.1:82/TCP"});
  }
}

TEST_CASE("a key served for a service whose input is broken is not given to another") {
  // a serves 10.96.0.1:80 in the kernel; its slice is broken now, so it is held
  auto desired = reconcile_text(service("a", "{clusterIP: 10.96.0.1, ports: [{port: 80}]}") +
                                    service("b", "{clusterIP: 10.96.0.1, ports: [{port: 80}]}") +
                                    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: a-1, "
                                    "labels: {kubernetes.io/service-name: a}}\naddressType: IPv4\nendpoints: "
                                    "[{addresses: [x]}]\n",
                                {{key("10.96.0.1", 80), {"default", "a"}}});
  CHECK(desired.services.empty());
  CHECK(desired.held == std::set<ServiceRef>{{"default", "a"}, {"default", "b"}});
  CHECK(has_diagnostic(desired, Diagnostic::Severity::Error, "Service default/b", "whose input is broken"));
}

TEST_CASE("a service defined twice is refused and held") {
  auto desired = reconcile_text(service("twice", "{clusterIP: 10.96.0.1, ports: [{port: 80}]}") +
                                service("twice", "{clusterIP: 10.96.0.2, ports: [{port: 80}]}"));
  CHECK(desired.services.empty());
  CHECK(desired.held == std::set<ServiceRef>{{"default", "twice"}});
  CHECK(has_diagnostic(desired, Diagnostic::Severity::Error, "Service default/twice", "defined twice"));
}

TEST_CASE("broken objects hold the services they could feed") {
  const std::string services = service("web", "{clusterIP: 10.96.0.1, selector: {app: web}, ports: [{port: 80}]}") +
                               service("api", "{clusterIP: 10.96.0.2, selector: {app: api}, ports: [{port: 80}]}") +
                               service("manual", "{clusterIP: 10.96.0.3, ports: [{port: 80}]}") +
                               service("other-ns", "{clusterIP: 10.96.0.4, selector: {app: web}, ports: [{port: 80}]}",
                                       ", namespace: shop");
  struct Case {
    const char* what;
    std::string broken;
    std::set<ServiceRef> held;
    bool hold_everything;
  };
  const Case cases[] = {
      {"a broken slice holds its service",
       "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: x, labels: {kubernetes.io/service-name: "
       "manual}}\naddressType: IPv4\nendpoints: [{addresses: [bad]}]\n",
       {{"default", "manual"}}, false},
      {"a broken slice with unreadable labels holds its namespace",
       "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: x, labels: [a]}\naddressType: IPv4\n",
       {{"default", "web"}, {"default", "api"}, {"default", "manual"}}, false},
      {"a broken pod holds the services whose selector matches it",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: web}}\nstatus: {podIP: bad}\n", {{"default", "web"}},
       false},
      {"a broken pod with unreadable labels holds every selector service of its namespace",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: [a]}\n", {{"default", "web"}, {"default", "api"}}, false},
      {"a broken service holds itself", "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {ports: [{port: 0}]}\n",
       {{"default", "api"}}, false},
      {"broken Endpoints hold their service",
       "apiVersion: v1\nkind: Endpoints\nmetadata: {name: manual}\nsubsets: [{addresses: [{ip: bad}]}]\n",
       {{"default", "manual"}}, false},
      {"a broken service without a name holds its namespace",
       "apiVersion: v1\nkind: Service\nmetadata: {namespace: shop}\n", {{"shop", "other-ns"}}, false},
      {"an object whose namespace is unknown holds everything",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: [x]}\n", {}, true},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.what));
    auto set = manifests(services + "---\n" + c.broken);
    REQUIRE(set.broken.size() == 1);
    auto desired = reconcile(set, settings(), {});
    CHECK(desired.held == c.held);
    CHECK(desired.hold_everything == c.hold_everything);
    // a held service is not rebuilt from its (incomplete) input; the others are
    for (const auto& [k, svc] : desired.services) CHECK_FALSE(desired.held.count(svc.ref));
    std::size_t expected = 4;
    for (const char* name : {"web", "api", "manual"})
      if (desired.held.count({"default", name})) --expected;
    if (desired.held.count({"shop", "other-ns"})) --expected;
    CHECK(desired.services.size() == expected);
  }
}

TEST_CASE("hold_everything from the reader is passed on, and valid services are still built") {
  auto set = manifests(service("web", "{clusterIP: 10.96.0.1, ports: [{port: 80}]}"));
  set.hold_everything = true;
  auto desired = reconcile(set, settings(), {});
  CHECK(desired.hold_everything);
  CHECK(desired.services.size() == 1);
  CHECK(desired.is_held({"default", "anything"}));
  CHECK_FALSE(desired.held.count({"default", "anything"}));
}
