#pragma once
// The agent's HTTP endpoints (cpp-httplib): /healthz and /livez on the
// health address, /metrics (and the same health paths) on the metrics
// address, as kube-proxy serves them on 10256 and 10249.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "status/health.h"
#include "status/metrics.h"

namespace httplib {
class Server;
}

namespace socklb {

class HttpEndpoints {
 public:
  // Each address is HOST:PORT ([::1]:10256 for IPv6; port 0 picks a free
  // one); an empty address turns that endpoint off. Throws naming the flag
  // when an address cannot be used.
  HttpEndpoints(const std::string& health_addr, const std::string& metrics_addr, const AgentHealth& health,
                const AgentMetrics& metrics);
  ~HttpEndpoints();
  HttpEndpoints(const HttpEndpoints&) = delete;
  HttpEndpoints& operator=(const HttpEndpoints&) = delete;

  int health_port() const { return health_port_; }    // 0 when off
  int metrics_port() const { return metrics_port_; }  // 0 when off

 private:
  int serve(const std::string& address, const char* flag, bool with_metrics);

  const AgentHealth& health_;
  const AgentMetrics& metrics_;
  std::vector<std::unique_ptr<httplib::Server>> servers_;
  std::vector<std::thread> threads_;
  int health_port_ = 0, metrics_port_ = 0;
};

}  // namespace socklb
