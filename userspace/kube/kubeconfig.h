#pragma once
// How to reach the Kubernetes API server: from a kubeconfig file (what
// kubectl reads), or in a pod from its service account.

#include <filesystem>
#include <string>

namespace socklb {

struct ApiAccess {
  std::string server;  // https://host:port or http://host:port, no trailing slash
  // The CA that signed the server's certificate: a file or PEM text; neither
  // means the system's CAs.
  std::filesystem::path ca_file;
  std::string ca_pem;
  bool insecure = false;  // insecure-skip-tls-verify: the server is not verified at all
  // Bearer token: inline, or a file re-read when it changes (projected
  // service account tokens are rotated by the kubelet).
  std::string token;
  std::filesystem::path token_file;
  // Client certificate and key: files or PEM text.
  std::filesystem::path client_cert_file, client_key_file;
  std::string client_cert_pem, client_key_pem;
  std::string origin;  // "kubeconfig /root/.kube/config (context kind)": for messages
};

// Reads a kubeconfig (YAML or JSON): its current-context's cluster and user.
// Relative paths in it are relative to its directory. Throws with what is
// missing or unsupported and how to fix it.
ApiAccess load_kubeconfig(const std::filesystem::path& file);

// A pod's own credentials: token and CA from the service account directory,
// and `api_server`, the API server's real address (not the kubernetes
// Service's ClusterIP, which socklb itself translates). Throws when the
// directory holds no token.
ApiAccess in_cluster_access(const std::string& api_server,
                            const std::filesystem::path& account_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// `server` without a trailing slash; throws unless it is an http(s) URL
// (`origin` names where it was given).
std::string checked_server_url(std::string server, const std::string& origin);

// Decodes standard base64 (kubeconfig *-data fields). Throws on bad input.
std::string decode_base64(const std::string& text);

}  // namespace socklb
