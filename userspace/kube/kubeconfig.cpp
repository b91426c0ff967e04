#include "kube/kubeconfig.h"

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "manifests/yaml_tree.h"

namespace socklb {
namespace fs = std::filesystem;
namespace {

std::string text_or_empty(const YamlNode* node, const char* key) {
  const YamlNode* value = node ? node->find(key) : nullptr;
  return value && value->type == YamlNode::Type::Scalar ? value->scalar : std::string();
}

// The entry of `list` (clusters, users, contexts) called `name`, or throws.
const YamlNode* named(const YamlNode* config, const char* list, const char* field, const std::string& name,
                      const std::string& origin) {
  const YamlNode* entries = config->find(list);
  if (entries && entries->type == YamlNode::Type::Sequence)
    for (const YamlNode* entry : entries->children)
      if (text_or_empty(entry, "name") == name) {
        const YamlNode* inner = entry->find(field);
        if (!inner || inner->type != YamlNode::Type::Map)
          throw std::runtime_error(origin + ": the " + std::string(field) + " \"" + name + "\" has no `" + field + ":` fields");
        return inner;
      }
  throw std::runtime_error(origin + ": no " + std::string(field) + " named \"" + name + "\" under `" + list + ":`");
}

fs::path relative_to(const fs::path& dir, const std::string& path) {
  if (path.empty()) return {};
  fs::path p(path);
  return p.is_absolute() ? p : dir / p;
}

}  // namespace

std::string checked_server_url(std::string server, const std::string& origin) {
  while (!server.empty() && server.back() == '/') server.pop_back();
  if (server.rfind("https://", 0) != 0 && server.rfind("http://", 0) != 0)
    throw std::runtime_error(origin + ": the server \"" + server +
                             "\" is not an http(s) URL such as https://192.0.2.10:6443");
  return server;
}

std::string decode_base64(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    int v = value(c);
    if (v < 0) throw std::runtime_error("not base64 (a character '" + std::string(1, c) + "')");
    bits = (bits << 6) | static_cast<uint32_t>(v);
    if (++count == 4) {
      out.push_back(static_cast<char>(bits >> 16));
      out.push_back(static_cast<char>(bits >> 8));
      out.push_back(static_cast<char>(bits));
      bits = 0;
      count = 0;
    }
  }
  if (count == 1) throw std::runtime_error("not base64 (truncated)");
  if (count == 2) out.push_back(static_cast<char>(bits >> 4));
  if (count == 3) {
    out.push_back(static_cast<char>(bits >> 10));
    out.push_back(static_cast<char>(bits >> 2));
  }
  return out;
}

ApiAccess load_kubeconfig(const fs::path& file) {
  std::string origin = "kubeconfig " + file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in || fs::is_directory(file))
    throw std::runtime_error("cannot read " + origin + ": does it exist, and is it readable?");
  std::string text{std::istreambuf_iterator<char>(in), {}};
  YamlDocumentPtr document;
  try {
    document = load_yaml_document(text);  // JSON is YAML too
  } catch (const YamlSyntaxError& e) {
    throw std::runtime_error(origin + " is neither YAML nor JSON: " + e.what() + " (line " + std::to_string(e.line() + 1) + ")");
  }
  const YamlNode* config = document->root();
  if (!config || config->type != YamlNode::Type::Map) throw std::runtime_error(origin + " is not a kubeconfig (expected a mapping with clusters, users and contexts)");
  std::string context_name = text_or_empty(config, "current-context");
  if (context_name.empty())
    throw std::runtime_error(origin + " has no current-context: set one with `kubectl config use-context NAME --kubeconfig " +
                             file.string() + "`");
  origin += " (context " + context_name + ")";
  const YamlNode* context = named(config, "contexts", "context", context_name, origin);
  fs::path dir = file.parent_path();

  ApiAccess access;
  access.origin = origin;
  const YamlNode* cluster = named(config, "clusters", "cluster", text_or_empty(context, "cluster"), origin);
  access.server = checked_server_url(text_or_empty(cluster, "server"), origin);
  access.ca_file = relative_to(dir, text_or_empty(cluster, "certificate-authority"));
  try {
    access.ca_pem = decode_base64(text_or_empty(cluster, "certificate-authority-data"));
  } catch (const std::exception& e) {
    throw std::runtime_error(origin + ": certificate-authority-data is " + e.what());
  }
  access.insecure = text_or_empty(cluster, "insecure-skip-tls-verify") == "true";

  std::string user_name = text_or_empty(context, "user");
  if (!user_name.empty()) {
    const YamlNode* user = named(config, "users", "user", user_name, origin);
    if (user->find("exec") || user->find("auth-provider"))
      throw std::runtime_error(origin + ": the user \"" + user_name +
                               "\" authenticates through an exec plugin or auth-provider, which socklb does not run; "
                               "give it a token, tokenFile or client certificate (e.g. a ServiceAccount token)");
    access.token = text_or_empty(user, "token");
    access.token_file = relative_to(dir, text_or_empty(user, "tokenFile"));
    access.client_cert_file = relative_to(dir, text_or_empty(user, "client-certificate"));
    access.client_key_file = relative_to(dir, text_or_empty(user, "client-key"));
    try {
      access.client_cert_pem = decode_base64(text_or_empty(user, "client-certificate-data"));
      access.client_key_pem = decode_base64(text_or_empty(user, "client-key-data"));
    } catch (const std::exception& e) {
      throw std::runtime_error(origin + ": client-certificate-data or client-key-data is " + e.what());
    }
    bool has_cert = !access.client_cert_file.empty() || !access.client_cert_pem.empty();
    bool has_key = !access.client_key_file.empty() || !access.client_key_pem.empty();
    if (has_cert != has_key)
      throw std::runtime_error(origin + ": the user \"" + user_name + "\" has a client certificate without its key, or a key without its certificate");
  }
  return access;
}

ApiAccess in_cluster_access(const std::string& api_server, const fs::path& account_dir) {
  ApiAccess access;
  access.origin = "the service account in " + account_dir.string();
  if (api_server.empty())
    throw std::runtime_error("in a pod socklb needs --api-server https://HOST:PORT, the API server's real address: the "
                             "kubernetes Service's ClusterIP (KUBERNETES_SERVICE_HOST) is itself translated by socklb, and "
                             "on a fresh node nothing translates it yet; or give --kubeconfig FILE or --manifests PATH");
  access.server = checked_server_url(api_server, "--api-server");
  access.token_file = account_dir / "token";
  if (!fs::exists(access.token_file))
    throw std::runtime_error("no service account token at " + access.token_file.string() +
                             ": outside a pod, give --kubeconfig FILE (or --manifests PATH for a node without Kubernetes)");
  if (fs::exists(account_dir / "ca.crt")) access.ca_file = account_dir / "ca.crt";
  return access;
}

}  // namespace socklb
