#pragma once
// An error or warning about the input, located well enough to fix it:
// file, line, object and field.

#include <string>
#include <vector>

namespace socklb {

struct SourceLocation {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
};

struct Diagnostic {
  enum class Severity { Error, Warning };

  Severity severity = Severity::Error;
  SourceLocation where;
  std::string object;  // "Service default/user-service"; empty when unknown
  std::string field;   // "spec.ports[0].port"; empty for the whole object
  std::string message;

  // "manifests/a.yaml:12: Service default/x: spec.ports[0].port: 70000 is not a port (1..65535)"
  std::string str() const;
};

using Diagnostics = std::vector<Diagnostic>;

}  // namespace socklb
