#include "kube/api_client.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <sstream>

namespace socklb {
namespace fs = std::filesystem;
namespace {

constexpr long kConnectTimeoutSeconds = 10;
constexpr long kRequestTimeoutSeconds = 120;  // a list page of a large cluster

void require_readable(const fs::path& file, const char* what, const std::string& origin) {
  if (file.empty()) return;
  std::ifstream in(file);
  if (!in) throw std::runtime_error(origin + ": cannot read the " + what + " " + file.string());
}

long long stamp_of(const fs::path& file) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) return -1;
  return static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec + st.st_ino;
}

curl_blob blob_of(const std::string& pem) {
  return curl_blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
}

}  // namespace

void init_http_client() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct ApiClient::Transfer {
  const std::function<bool(std::string_view)>* on_line = nullptr;  // null: collect the body
  const std::atomic<bool>* stop = nullptr;
  std::string buffer;  // the body, or the start of a line not yet complete
  long status = 0;
  bool stopped = false;
  CURL* curl = nullptr;

  static size_t write(char* data, size_t size, size_t n, void* self) {
    auto& t = *static_cast<Transfer*>(self);
    t.buffer.append(data, size * n);
    if (t.on_line) {
      if (t.status == 0) curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
      if (t.status != 200) return size * n;  // an error's body: kept whole for the message
      std::size_t start = 0;
      for (std::size_t nl; (nl = t.buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view line(t.buffer.data() + start, nl - start);
        if (line.empty()) continue;
        if (!(*t.on_line)(line)) {
          t.stopped = true;
          return 0;  // ends the transfer
        }
      }
      t.buffer.erase(0, start);
    }
    return size * n;
  }

  // Called at least once a second while idle: how a stop reaches a quiet watch.
  static int progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& t = *static_cast<Transfer*>(self);
    if (t.stop->load()) {
      t.stopped = true;
      return 1;
    }
    return 0;
  }
};

ApiClient::ApiClient(ApiAccess access) : access_(std::move(access)) {
  init_http_client();
  require_readable(access_.ca_file, "certificate-authority", access_.origin);
  require_readable(access_.client_cert_file, "client-certificate", access_.origin);
  require_readable(access_.client_key_file, "client-key", access_.origin);
  require_readable(access_.token_file, "tokenFile", access_.origin);
  curl_ = curl_easy_init();
  if (!curl_) throw std::runtime_error("cannot start an HTTP client (curl_easy_init failed)");
}

ApiClient::~ApiClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::string ApiClient::bearer_token() {
  if (access_.token_file.empty()) return access_.token;
  long long stamp = stamp_of(access_.token_file);
  if (stamp != token_stamp_) {  // rotated (or first use): read it again
    std::ifstream in(access_.token_file);
    std::stringstream text;
    text << in.rdbuf();
    std::string token = text.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (in || !token.empty()) {
      token_ = std::move(token);
      token_stamp_ = stamp;
    }
  }
  return token_;
}

std::string ApiClient::url(const std::string& path, const Query& query) {
  std::string out = access_.server + path;
  char sep = '?';
  for (const auto& [key, value] : query) {
    char* escaped = curl_easy_escape(static_cast<CURL*>(curl_), value.c_str(), static_cast<int>(value.size()));
    out += sep + key + "=" + (escaped ? escaped : "");
    curl_free(escaped);
    sep = '&';
  }
  return out;
}

ApiResponse ApiClient::perform(const std::string& path, const Query& query, Transfer& t, long timeout_seconds) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  t.curl = curl;
  std::string target = url(path, query);
  curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_seconds);
  // a watch may be quiet for minutes: keepalive finds a dead peer
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 10L);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // gzip when the server offers it
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "socklb");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Transfer::write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &Transfer::progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  if (access_.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_blob ca = blob_of(access_.ca_pem), cert = blob_of(access_.client_cert_pem), key = blob_of(access_.client_key_pem);
  if (!access_.ca_pem.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  else if (!access_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, access_.ca_file.c_str());
  if (!access_.client_cert_pem.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
  else if (!access_.client_cert_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT, access_.client_cert_file.c_str());
  if (!access_.client_key_pem.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
  else if (!access_.client_key_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, access_.client_key_file.c_str());

  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  std::string token = bearer_token();
  std::string authorization = "Authorization: Bearer " + token;
  if (!token.empty()) headers = curl_slist_append(headers, authorization.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);

  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  ApiResponse response;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  if (t.stopped) {
    if (t.stop && t.stop->load()) response.status = 0;
    return response;
  }
  if (rc != CURLE_OK) {
    // a stream the server ends after its headers is no failure; anything else is
    bool ended_stream = t.on_line && rc == CURLE_PARTIAL_FILE;
    if (!ended_stream)
      throw ApiUnreachable(access_.server + path + ": " + (error[0] ? error : curl_easy_strerror(rc)));
  }
  if (!t.on_line || response.status != 200) response.body = std::move(t.buffer);
  return response;
}

ApiResponse ApiClient::get(const std::string& path, const Query& query, const std::atomic<bool>& stop) {
  Transfer t;
  t.stop = &stop;
  return perform(path, query, t, kRequestTimeoutSeconds);
}

ApiResponse ApiClient::stream(const std::string& path, const Query& query,
                              const std::function<bool(std::string_view)>& on_line, const std::atomic<bool>& stop,
                              long timeout_seconds) {
  Transfer t;
  t.on_line = &on_line;
  t.stop = &stop;
  return perform(path, query, t, timeout_seconds);
}

}  // namespace socklb
