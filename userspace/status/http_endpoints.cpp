#include "status/http_endpoints.h"

#include <httplib.h>

#include <stdexcept>

namespace socklb {
namespace {

struct HostPort {
  std::string host;
  int port = 0;
};

HostPort parse_address(const std::string& text, const char* flag) {
  auto colon = text.rfind(':');
  auto bad = [&] {
    return std::invalid_argument(std::string(flag) + " \"" + text +
                                 "\" is not HOST:PORT (such as 0.0.0.0:10256, 127.0.0.1:0 or [::1]:10256)");
  };
  if (colon == std::string::npos || colon == 0) throw bad();
  HostPort out;
  out.host = text.substr(0, colon);
  if (out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
  try {
    std::size_t used = 0;
    out.port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || out.port < 0 || out.port > 65535) throw bad();
  } catch (const std::logic_error&) {
    throw bad();
  }
  return out;
}

void answer(httplib::Response& res, const HealthAnswer& a) {
  res.status = a.status;
  res.set_content(a.body, "application/json");
}

}  // namespace

HttpEndpoints::HttpEndpoints(const std::string& health_addr, const std::string& metrics_addr,
                             const AgentHealth& health, const AgentMetrics& metrics)
    : health_(health), metrics_(metrics) {
  try {
    if (!health_addr.empty()) health_port_ = serve(health_addr, "--health-addr", false);
    if (!metrics_addr.empty()) metrics_port_ = serve(metrics_addr, "--metrics-addr", true);
  } catch (...) {
    for (auto& s : servers_) s->stop();
    for (auto& t : threads_) t.join();
    throw;
  }
}

HttpEndpoints::~HttpEndpoints() {
  for (auto& s : servers_) s->stop();
  for (auto& t : threads_) t.join();
}

int HttpEndpoints::serve(const std::string& address, const char* flag, bool with_metrics) {
  HostPort where = parse_address(address, flag);
  auto server = std::make_unique<httplib::Server>();
  // a scrape and a probe at a time is all these see
  server->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    answer(res, health_.healthz(AgentHealth::Clock::now()));
  });
  server->Get("/livez", [this](const httplib::Request&, httplib::Response& res) {
    answer(res, health_.livez(AgentHealth::Clock::now()));
  });
  if (with_metrics)
    server->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_.render(), "text/plain; version=0.0.4; charset=utf-8");
    });
  int port = where.port == 0 ? server->bind_to_any_port(where.host) : (server->bind_to_port(where.host, where.port) ? where.port : -1);
  if (port <= 0)
    throw std::runtime_error(std::string("cannot listen on ") + address + " for " + flag +
                             ": is the port taken (another socklb or kube-proxy?) or the address not this machine's? "
                             "Give another with " + flag + ", or " + flag + " '' to turn it off");
  threads_.emplace_back([s = server.get()] { s->listen_after_bind(); });
  servers_.push_back(std::move(server));
  return port;
}

}  // namespace socklb
