#pragma once
// The project's fake Kubernetes API server (tests/fake_apiserver/, checked
// against python3-kubernetes and kubectl) run for one kernel test, on
// loopback, with a kubeconfig for the agent. Removed with all its files when
// the test ends, also when it fails.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_process.h"

namespace kt {

struct HttpReply {
  long status = 0;  // 0: no answer (refused)
  std::string body;
};

// GET or POST (with a JSON body) over plain HTTP; never throws.
HttpReply http_get(const std::string& url);
HttpReply http_post(const std::string& url, const nlohmann::json& body);

struct FakeApiOptions {
  bool tls = false;           // HTTPS with a CA of its own (make_certs.sh)
  std::string token;          // required of clients when set
  std::string watch_410 = "event";  // how a too old resourceVersion is answered: "event" or "http"
};

class FakeApi {
 public:
  explicit FakeApi(FakeApiOptions options = {});
  ~FakeApi();

  // A kubeconfig for the agent: this server, its CA, and `token` (the
  // server's own unless given).
  std::filesystem::path kubeconfig(const std::string& token = "") const;
  // The same with the user's tokenFile instead of an inline token.
  std::filesystem::path kubeconfig_with_token_file(const std::filesystem::path& token_file) const;
  std::string server() const;  // http(s)://127.0.0.1:PORT

  // The control API (README of tests/fake_apiserver): throws unless 200.
  nlohmann::json control(const std::string& path, const nlohmann::json& body = nlohmann::json::object());
  // (a vector: a braced single object would otherwise be that object, not a list of one)
  void put(const std::vector<nlohmann::json>& objects) { control("/objects", {{"objects", objects}}); }
  void remove(const std::vector<nlohmann::json>& refs) { control("/delete", {{"objects", refs}}); }
  // The API requests made so far, as the fake logged them (JSON lines).
  std::filesystem::path request_log() const { return dir_ / "requests.jsonl"; }

 private:
  FakeApiOptions options_;
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0, control_port_ = 0;
};

// Kubernetes objects as the API serves them.
nlohmann::json api_service(const std::string& ns, const std::string& name, const std::string& cluster_ip, int port = 80,
                           int target_port = 8080);
nlohmann::json api_slice(const std::string& ns, const std::string& service, const std::vector<std::string>& pod_ips,
                         int port = 8080, const std::string& name = "");
nlohmann::json api_node(const std::string& name, const std::string& zone);

}  // namespace kt
