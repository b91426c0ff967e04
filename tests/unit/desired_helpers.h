#pragma once
// Small helpers for the reconcile tests: manifests from YAML text, service
// keys from text, backends as readable strings.

#include <doctest/doctest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "desired/reconcile.h"
#include "manifests/document_parser.h"

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& items) {
    std::string out = "{";
    for (const auto& item : items) out += (out.size() > 1 ? ", \"" : "\"") + item + "\"";
    return (out + "}").c_str();
  }
};
}  // namespace doctest

namespace socklb::test {

// Parses YAML text; broken objects are kept (some tests want them), but
// unreadable YAML is a mistake in the test.
inline ManifestSet manifests(const std::string& text) {
  ParsedFile parsed = parse_manifest_text(text, "test.yaml");
  REQUIRE_FALSE(parsed.unreadable);
  return std::move(parsed.objects);
}

inline ServiceKey key(const char* vip, uint16_t port, Protocol protocol = Protocol::TCP) {
  auto ip = IpAddress::parse(vip);
  if (!ip) throw std::invalid_argument(std::string("not an IP address in the test: ") + vip);
  return {*ip, port, protocol};
}

inline ReconcileSettings settings(std::string node = "node-a", std::string zone = "") {
  ReconcileSettings s;
  s.node = {std::move(node), std::move(zone)};
  s.service_cidrs = default_service_cidrs();
  return s;
}

inline DesiredState reconcile_text(const std::string& text, const std::map<ServiceKey, ServiceRef>& serving_now = {},
                                   const ReconcileSettings& s = settings()) {
  return reconcile(manifests(text), s, serving_now);
}

// The backends new connects go to: "10.244.0.1:8080", with " terminating"
// for fallback backends.
inline std::vector<std::string> backends(const DesiredState& desired, const ServiceKey& k) {
  auto it = desired.services.find(k);
  std::string missing = k.str() + " is not desired";
  REQUIRE_MESSAGE(it != desired.services.end(), missing);
  std::vector<std::string> out;
  for (const auto& b : it->second.backends)
    if (chosen_for_new_connects(b.state)) out.push_back(b.str() + (b.state == BackendState::Terminating ? " terminating" : ""));
  return out;
}

// Every endpoint the service lists, with what it may still be used for:
// "10.244.0.1:8080 active|terminating|serving|listed".
inline std::vector<std::string> endpoints(const DesiredState& desired, const ServiceKey& k) {
  auto it = desired.services.find(k);
  std::string missing = k.str() + " is not desired";
  REQUIRE_MESSAGE(it != desired.services.end(), missing);
  static const char* const kStates[] = {"active", "terminating", "serving", "listed"};
  std::vector<std::string> out;
  for (const auto& b : it->second.backends) out.push_back(b.str() + " " + kStates[static_cast<int>(b.state)]);
  return out;
}

inline std::vector<std::string> keys(const DesiredState& desired) {
  std::vector<std::string> out;
  for (const auto& [k, _] : desired.services) out.push_back(k.str());
  return out;
}

inline bool has_diagnostic(const DesiredState& desired, Diagnostic::Severity severity, const std::string& object,
                           const std::string& part) {
  for (const auto& d : desired.diagnostics)
    if (d.severity == severity && d.object == object && d.str().find(part) != std::string::npos) return true;
  return false;
}

using Strings = std::vector<std::string>;

}  // namespace socklb::test
