// kubeconfig: the current context's server and credentials, as kubectl reads
// them, with errors that say what to fix.

#include <doctest/doctest.h>

#include "kube/kubeconfig.h"
#include "temp_dir.h"

using namespace socklb;
using namespace socklb::test;

namespace {

const char* kConfig = R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: dev
  cluster: {server: "http://127.0.0.1:1"}
- name: prod
  cluster:
    server: https://192.0.2.10:6443/
    certificate-authority: pki/ca.crt
users:
- name: agent
  user:
    tokenFile: /var/run/token
contexts:
- name: dev
  context: {cluster: dev, user: agent}
- name: prod
  context: {cluster: prod, user: agent}
)";

}  // namespace

TEST_CASE("the current context's cluster and user, relative paths from the file's directory") {
  TempDir dir;
  dir.write("kubeconfig", kConfig);
  ApiAccess a = load_kubeconfig(dir.path() / "kubeconfig");
  CHECK(a.server == "https://192.0.2.10:6443");
  CHECK(a.ca_file == dir.path() / "pki/ca.crt");
  CHECK(a.token_file == "/var/run/token");
  CHECK(a.token.empty());
  CHECK_FALSE(a.insecure);
  CHECK(a.origin.find("context prod") != std::string::npos);
}

TEST_CASE("JSON kubeconfig with inline data fields") {
  TempDir dir;
  // "PEM" base64-encoded is UEVN
  dir.write("config.json", R"({"current-context":"c","clusters":[{"name":"k","cluster":{"server":"https://h:6443",
    "certificate-authority-data":"UEVN","insecure-skip-tls-verify":true}}],
    "users":[{"name":"u","user":{"token":"abc","client-certificate-data":"UEVN","client-key-data":"UEVN"}}],
    "contexts":[{"name":"c","context":{"cluster":"k","user":"u"}}]})");
  ApiAccess a = load_kubeconfig(dir.path() / "config.json");
  CHECK(a.ca_pem == "PEM");
  CHECK(a.client_cert_pem == "PEM");
  CHECK(a.client_key_pem == "PEM");
  CHECK(a.token == "abc");
  CHECK(a.insecure);
}

TEST_CASE("errors name what is wrong") {
  TempDir dir;
  CHECK_THROWS_WITH(load_kubeconfig(dir.path() / "missing"), doctest::Contains("cannot read kubeconfig"));
  dir.write("no-context", "clusters: []\n");
  CHECK_THROWS_WITH(load_kubeconfig(dir.path() / "no-context"), doctest::Contains("has no current-context"));
  dir.write("bad-context", "current-context: x\ncontexts: []\n");
  CHECK_THROWS_WITH(load_kubeconfig(dir.path() / "bad-context"), doctest::Contains("no context named \"x\""));
  dir.write("exec", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
  CHECK_THROWS_WITH(load_kubeconfig(dir.path() / "exec"), doctest::Contains("exec plugin"));
  dir.write("server", R"(current-context: c
clusters: [{name: k, cluster: {server: "h:6443"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  CHECK_THROWS_WITH(load_kubeconfig(dir.path() / "server"), doctest::Contains("not an http(s) URL"));
}

TEST_CASE("in a pod: --api-server is required and the token must exist") {
  TempDir dir;
  CHECK_THROWS_WITH(in_cluster_access("", dir.path()), doctest::Contains("KUBERNETES_SERVICE_HOST"));
  CHECK_THROWS_WITH(in_cluster_access("https://10.0.0.1:6443", dir.path()), doctest::Contains("no service account token"));
  dir.write("token", "t\n");
  dir.write("ca.crt", "PEM");
  ApiAccess a = in_cluster_access("https://10.0.0.1:6443", dir.path());
  CHECK(a.token_file == dir.path() / "token");
  CHECK(a.ca_file == dir.path() / "ca.crt");
}

TEST_CASE("base64") {
  CHECK(decode_base64("aGVsbG8=") == "hello");
  CHECK(decode_base64("aGVsbG8") == "hello");
  CHECK(decode_base64("aGk=\n") == "hi");
  CHECK_THROWS(decode_base64("a$"));
}
