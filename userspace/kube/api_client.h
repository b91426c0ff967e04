#pragma once
// GET requests and watch streams to the Kubernetes API server over libcurl
// (HTTP/1.1 chunked streaming, TLS verified against the kubeconfig's CA,
// bearer token or client certificate). One client per thread: it keeps its
// connection open between requests.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "kube/kubeconfig.h"

namespace socklb {

// The server could not be reached or the transfer broke (refused, reset,
// TLS failure, timeout). The message is curl's, with the server's address;
// never the token.
class ApiUnreachable : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ApiResponse {
  long status = 0;   // HTTP status; 0 when the caller stopped the transfer
  std::string body;  // all of it for get(); for stream(), only when status is not 200
};

using Query = std::map<std::string, std::string>;

class ApiClient {
 public:
  // Checks that the CA, certificate and key files named are readable (a
  // clear error at start beats a TLS error per request later).
  explicit ApiClient(ApiAccess access);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // GET path with query. Throws ApiUnreachable. `stop` ends it early (status 0).
  ApiResponse get(const std::string& path, const Query& query, const std::atomic<bool>& stop);

  // GET of a stream of lines (a watch): each complete line of a 200 response
  // goes to on_line as it arrives; on_line returns false to end the stream.
  // Returns when the server ends the stream, on_line asks to, or `stop` is set
  // (within about a second). Throws ApiUnreachable.
  ApiResponse stream(const std::string& path, const Query& query, const std::function<bool(std::string_view)>& on_line,
                     const std::atomic<bool>& stop, long timeout_seconds);

  const std::string& server() const { return access_.server; }

 private:
  struct Transfer;
  ApiResponse perform(const std::string& path, const Query& query, Transfer& transfer, long timeout_seconds);
  std::string url(const std::string& path, const Query& query);
  std::string bearer_token();

  ApiAccess access_;
  void* curl_;  // CURL*, kept: the connection is reused
  std::string token_;  // as last read from access_.token_file
  long long token_stamp_ = -1;
};

// Curl's one-time global set-up; call before starting threads (main does).
void init_http_client();

}  // namespace socklb
