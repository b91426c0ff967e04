#include "manifests/diagnostic.h"

namespace socklb {

std::string Diagnostic::str() const {
  std::string out = where.file;
  if (where.line > 0) out += ":" + std::to_string(where.line);
  if (!out.empty()) out += ": ";
  if (!object.empty()) out += object + ": ";
  if (!field.empty()) out += field + ": ";
  return out + message;
}

}  // namespace socklb
