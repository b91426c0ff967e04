#include "fake_api.h"

#include <curl/curl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace kt {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

HttpReply request(const std::string& url, const std::string* post_body) {
  HttpReply reply;
  CURL* curl = curl_easy_init();
  if (!curl) return reply;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_slist* headers = nullptr;
  if (post_body) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->c_str());
  }
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

int read_port(const fs::path& file, const ChildProcess& process) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(file);
    int port = 0;
    if (in >> port && port > 0) return port;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("the fake API server did not start: " + process.output());
}

std::string fake_dir() {
  static std::atomic<int> counter{0};
  return (fs::temp_directory_path() / ("slbt-api-" + std::to_string(getpid()) + "-" + std::to_string(++counter))).string();
}

}  // namespace

HttpReply http_get(const std::string& url) { return request(url, nullptr); }
HttpReply http_post(const std::string& url, const Json& body) {
  std::string text = body.dump();
  return request(url, &text);
}

FakeApi::FakeApi(FakeApiOptions options) : options_(std::move(options)), dir_(fake_dir()) {
  fs::create_directories(dir_);
  std::vector<std::string> argv = {"/usr/bin/python3", std::string(SOCKLB_TESTS_DIR) + "/fake_apiserver/fake_apiserver.py",
                                   "--port-file", (dir_ / "port").string(), "--control-port-file",
                                   (dir_ / "control-port").string(), "--request-log", request_log().string(),
                                   "--watch-410", options_.watch_410};
  if (options_.tls) {
    CommandResult certs = run_command({std::string(SOCKLB_TESTS_DIR) + "/fake_apiserver/make_certs.sh", dir_.string()});
    if (certs.code != 0) throw std::runtime_error("make_certs.sh failed: " + certs.output);
    argv.insert(argv.end(), {"--tls-cert", (dir_ / "server.crt").string(), "--tls-key", (dir_ / "server.key").string()});
  }
  if (!options_.token.empty()) argv.insert(argv.end(), {"--token", options_.token});
  process_ = std::make_unique<ChildProcess>(argv);
  port_ = read_port(dir_ / "port", *process_);
  control_port_ = read_port(dir_ / "control-port", *process_);
}

FakeApi::~FakeApi() {
  if (process_) {
    process_->signal(SIGTERM);
    process_->wait();
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string FakeApi::server() const {
  return std::string(options_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

namespace {

fs::path write_kubeconfig(const fs::path& dir, const Json& cluster, const Json& user) {
  static std::atomic<int> counter{0};
  fs::path file = dir / ("kubeconfig-" + std::to_string(++counter));
  Json config = {{"apiVersion", "v1"},
                 {"kind", "Config"},
                 {"current-context", "fake"},
                 {"clusters", {{{"name", "fake"}, {"cluster", cluster}}}},
                 {"users", {{{"name", "agent"}, {"user", user}}}},
                 {"contexts", {{{"name", "fake"}, {"context", {{"cluster", "fake"}, {"user", "agent"}}}}}}};
  std::ofstream(file) << config.dump(2);  // JSON is a kubeconfig too
  return file;
}

}  // namespace

fs::path FakeApi::kubeconfig(const std::string& token) const {
  Json cluster = {{"server", server()}};
  if (options_.tls) cluster["certificate-authority"] = (dir_ / "ca.crt").string();
  Json user = Json::object();
  std::string t = token.empty() ? options_.token : token;
  if (!t.empty()) user["token"] = t;
  return write_kubeconfig(dir_, cluster, user);
}

fs::path FakeApi::kubeconfig_with_token_file(const fs::path& token_file) const {
  Json cluster = {{"server", server()}};
  if (options_.tls) cluster["certificate-authority"] = (dir_ / "ca.crt").string();
  return write_kubeconfig(dir_, cluster, {{"tokenFile", token_file.string()}});
}

Json FakeApi::control(const std::string& path, const Json& body) {
  HttpReply r = http_post("http://127.0.0.1:" + std::to_string(control_port_) + path, body);
  if (r.status != 200)
    throw std::runtime_error("fake API control " + path + " " + body.dump().substr(0, 300) + ": " + std::to_string(r.status) + " " + r.body);
  return r.body.empty() ? Json() : Json::parse(r.body);
}

Json api_service(const std::string& ns, const std::string& name, const std::string& cluster_ip, int port, int target_port) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"clusterIP", cluster_ip},
            {"ports", {{{"name", "http"}, {"port", port}, {"protocol", "TCP"}, {"targetPort", target_port}}}}}}};
}

Json api_slice(const std::string& ns, const std::string& service, const std::vector<std::string>& pod_ips, int port,
               const std::string& name) {
  Json endpoints = Json::array();
  for (const auto& ip : pod_ips)
    endpoints.push_back({{"addresses", {ip}}, {"conditions", {{"ready", true}}}, {"nodeName", "node-a"}});
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", name.empty() ? service + "-abc" : name},
            {"namespace", ns},
            {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"addressType", "IPv4"},
          {"endpoints", endpoints},
          {"ports", {{{"name", "http"}, {"port", port}, {"protocol", "TCP"}}}}};
}

Json api_node(const std::string& name, const std::string& zone) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", {{"topology.kubernetes.io/zone", zone}}}}}};
}

}  // namespace kt
