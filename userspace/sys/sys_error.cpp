#include "sys/sys_error.h"

#include <cerrno>
#include <cstring>

namespace socklb {
namespace {

const char* errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case EBUSY: return "EBUSY";
    case ENOLINK: return "ENOLINK";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case 524: return "ENOTSUPP";
    default: return nullptr;
  }
}

}  // namespace

std::string errno_text(int err) {
  const char* name = errno_name(err);
  std::string text = err == 524 ? "operation not supported by the kernel" : std::strerror(err);
  return name ? text + " (" + name + ")" : text + " (errno " + std::to_string(err) + ")";
}

SystemError::SystemError(const std::string& what, int err, const std::string& fix)
    : std::runtime_error(what + ": " + errno_text(err) + (fix.empty() ? "" : "; " + fix)), err_(err) {}

}  // namespace socklb
