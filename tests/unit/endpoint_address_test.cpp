// Endpoint addresses no pod can have: the API server refuses unspecified,
// loopback, link-local and link-local multicast endpoint addresses
// (ValidateEndpointIP in pkg/apis/core/validation); socklb refuses every
// multicast address too. Such an address is left out with an error naming
// its file, line and field, from whichever source it comes (EndpointSlice,
// core/v1 Endpoints, a selected Pod); the service's other endpoints serve and
// the service is not held at its previous state.

#include <algorithm>

#include "desired_helpers.h"

using namespace socklb;
using namespace socklb::test;

namespace {

const std::string kWeb = R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIPs: [10.96.0.10, "fd00:10:96::10"]
  ipFamilies: [IPv4, IPv6]
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
)";  // 8 lines

std::string slice_of(const std::string& family, const std::string& addresses) {
  std::string endpoints;
  std::size_t start = 0;
  for (std::size_t comma; start <= addresses.size(); start = comma + 1) {
    comma = addresses.find(',', start);
    if (comma == std::string::npos) comma = addresses.size();
    endpoints += "- addresses: [\"" + addresses.substr(start, comma - start) + "\"]\n";
  }
  return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-" + family +
         ", labels: {kubernetes.io/service-name: web}}\naddressType: " + family + "\nports: [{name: http, port: 8080}]\n"
         "endpoints:\n" + endpoints;
}

std::vector<const Diagnostic*> errors(const Diagnostics& diagnostics) {
  std::vector<const Diagnostic*> out;
  for (const auto& d : diagnostics)
    if (d.severity == Diagnostic::Severity::Error) out.push_back(&d);
  return out;
}

}  // namespace

TEST_CASE("endpoint addresses no pod can have are left out; every other address serves") {
  struct Case {
    const char* address;
    const char* refused_as;  // a part of the error; nullptr: served
  };
  const Case cases[] = {
      {"0.0.0.0", "unspecified"},
      {"127.0.0.1", "loopback"},
      {"127.255.255.254", "loopback"},
      {"169.254.169.254", "link-local"},  // the cloud metadata service
      {"169.254.0.1", "link-local"},
      {"224.0.0.1", "multicast"},
      {"224.0.1.1", "multicast"},  // not link-local: Kubernetes accepts it, socklb does not
      {"239.255.255.255", "multicast"},
      {"::", "unspecified"},
      {"::1", "loopback"},
      {"fe80::1", "link-local"},
      {"febf:ffff::1", "link-local"},
      {"ff02::1", "multicast"},
      {"ff05::1:3", "multicast"},
      {"ff00::", "multicast"},
      // neighbours of the refused ranges
      {"0.0.0.1", nullptr},
      {"126.255.255.255", nullptr},
      {"128.0.0.1", nullptr},
      {"169.253.255.255", nullptr},
      {"169.255.0.1", nullptr},
      {"223.255.255.255", nullptr},
      {"240.0.0.1", nullptr},
      {"10.244.1.5", nullptr},
      {"::2", nullptr},
      {"fe7f::1", nullptr},
      {"fec0::1", nullptr},
      {"fd00::5", nullptr},
      {"2001:db8::5", nullptr},
      {"feff::1", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.address));
    bool v4 = std::string(c.address).find(':') == std::string::npos;
    const char* good = v4 ? "10.244.1.1" : "fd00::1";
    auto desired = reconcile_text(kWeb + slice_of(v4 ? "IPv4" : "IPv6", std::string(good) + "," + c.address));
    ServiceKey k = key(v4 ? "10.96.0.10" : "fd00:10:96::10", 80);
    auto endpoint = [&](const char* ip) { return v4 ? std::string(ip) + ":8080" : "[" + std::string(ip) + "]:8080"; };
    CHECK(desired.held.empty());
    if (!c.refused_as) {
      Strings both{endpoint(good), endpoint(c.address)};
      std::sort(both.begin(), both.end());
      CHECK(backends(desired, k) == both);
      continue;
    }
    CHECK(backends(desired, k) == Strings{endpoint(good)});
    ParsedFile parsed = parse_manifest_text(kWeb + slice_of(v4 ? "IPv4" : "IPv6", std::string(good) + "," + c.address),
                                            "web.yaml");
    auto errs = errors(parsed.objects.diagnostics);
    REQUIRE(errs.size() == 1);
    CAPTURE(errs[0]->str());
    CHECK(errs[0]->message.find(c.refused_as) != std::string::npos);
  }
}

TEST_CASE("a refused slice address is reported at its file, line and field, with the reason and the fix") {
  // lines: the service 1-8, the slice from 9; endpoints[2] is on line 18
  const std::string text = kWeb + slice_of("IPv4", "10.244.1.1,10.244.1.2,169.254.169.254,10.244.1.3");
  ParsedFile parsed = parse_manifest_text(text, "manifests/web.yaml");
  CHECK(parsed.objects.broken.empty());
  auto errs = errors(parsed.objects.diagnostics);
  REQUIRE(errs.size() == 1);
  const Diagnostic& d = *errs[0];
  CAPTURE(d.str());
  CHECK(d.where.file == "manifests/web.yaml");
  CHECK(d.where.line == 18);
  CHECK(d.object == "EndpointSlice default/web-IPv4");
  CHECK(d.field == "endpoints[2].addresses[0]");
  CHECK(d.message.find("169.254.169.254 is a link-local address") != std::string::npos);
  CHECK(d.message.find("left out") != std::string::npos);  // what happens
  CHECK(d.message.find("other endpoints") != std::string::npos);
  CHECK(d.message.find("pod's IP") != std::string::npos);  // the fix

  auto desired = reconcile(parsed.objects, settings(), {});
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.1.1:8080", "10.244.1.2:8080", "10.244.1.3:8080"});
  CHECK(desired.held.empty());
  CHECK(desired.diagnostics.empty());
}

TEST_CASE("core/v1 Endpoints: refused addresses and notReadyAddresses are left out with their field") {
  const std::string text = kWeb + R"(---
apiVersion: v1
kind: Endpoints
metadata: {name: web}
subsets:
- addresses: [{ip: 10.244.1.1}, {ip: 127.0.0.1}]
  notReadyAddresses: [{ip: 0.0.0.0}]
  ports: [{name: http, port: 8080}]
- addresses: [{ip: 224.0.0.1}, {ip: 10.244.1.2}]
  ports: [{name: http, port: 8080}]
)";
  ParsedFile parsed = parse_manifest_text(text, "web.yaml");
  CHECK(parsed.objects.broken.empty());
  auto errs = errors(parsed.objects.diagnostics);
  REQUIRE(errs.size() == 3);
  CHECK(errs[0]->str().find("web.yaml:14: Endpoints default/web: subsets[0].addresses[1].ip: 127.0.0.1 is a loopback") == 0);
  CHECK(errs[1]->str().find("web.yaml:15: Endpoints default/web: subsets[0].notReadyAddresses[0].ip: 0.0.0.0 is the unspecified") == 0);
  CHECK(errs[2]->str().find("web.yaml:17: Endpoints default/web: subsets[1].addresses[0].ip: 224.0.0.1 is a multicast") == 0);

  auto desired = reconcile(parsed.objects, settings(), {});
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.1.1:8080", "10.244.1.2:8080"});
  CHECK(desired.held.empty());
}

TEST_CASE("a selected Pod's refused podIP is left out; its other family and the other pods serve") {
  const std::string text = kWeb + R"(---
apiVersion: v1
kind: Pod
metadata: {name: web-a, labels: {app: web}}
status: {podIP: 10.244.1.1, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, labels: {app: web}}
status: {podIP: 127.0.0.1, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-c, labels: {app: web}}
status:
  podIPs:
  - ip: 10.244.1.3
  - ip: "fe80::3"
  conditions: [{type: Ready, status: "True"}]
)";
  ParsedFile parsed = parse_manifest_text(text, "web.yaml");
  CHECK(parsed.objects.broken.empty());
  auto errs = errors(parsed.objects.diagnostics);
  REQUIRE(errs.size() == 2);
  CHECK(errs[0]->str().find("web.yaml:18: Pod default/web-b: status.podIP: 127.0.0.1 is a loopback") == 0);
  CHECK(errs[1]->str().find("web.yaml:26: Pod default/web-c: status.podIPs[1].ip: fe80::3 is a link-local") == 0);

  auto desired = reconcile(parsed.objects, settings(), {});
  CHECK(backends(desired, key("10.96.0.10", 80)) == Strings{"10.244.1.1:8080", "10.244.1.3:8080"});
  CHECK(backends(desired, key("fd00:10:96::10", 80)).empty());
  CHECK(desired.held.empty());
}

TEST_CASE("IPv4-mapped IPv6 text never becomes an endpoint: it is refused, naming the IPv4 address to write") {
  // socklb stores IPv4 in the mapped form internally, but refuses it as text
  // (net/ip_address.h): "::ffff:127.0.0.1" cannot slip past the loopback rule
  // as an IPv6 address. The object is invalid as a whole, like any address
  // that does not parse, and its service keeps what it served.
  struct Case {
    std::string text;
    const char* field;
  };
  const Case cases[] = {
      {slice_of("IPv6", "fd00::1,::ffff:127.0.0.1"), "endpoints[1].addresses[0]"},
      {slice_of("IPv4", "10.244.1.1,::ffff:169.254.169.254"), "endpoints[1].addresses[0]"},
      {"---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: web}\nsubsets:\n- addresses: [{ip: \"::ffff:127.0.0.1\"}]\n"
       "  ports: [{name: http, port: 8080}]\n",
       "subsets[0].addresses[0].ip"},
      {"---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-a, labels: {app: web}}\nstatus: {podIP: \"::ffff:127.0.0.1\"}\n",
       "status.podIP"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    ParsedFile parsed = parse_manifest_text(kWeb + c.text, "web.yaml");
    auto errs = errors(parsed.objects.diagnostics);
    REQUIRE(errs.size() == 1);
    CAPTURE(errs[0]->str());
    CHECK(errs[0]->field == c.field);
    CHECK(errs[0]->message.find("IPv4-mapped") != std::string::npos);
    auto desired = reconcile(parsed.objects, settings(), {});
    CHECK(desired.services.empty());
    CHECK(desired.held.count({"default", "web"}) == 1);
  }
}
