#pragma once

#include <stdexcept>
#include <string>

namespace socklb {

// "Operation not permitted (EPERM)"; also names the kernel-internal errnos
// strerror() does not know, such as 524 (ENOTSUPP).
std::string errno_text(int err);

// Thrown when a system call fails: what was attempted, why, and what to do.
class SystemError : public std::runtime_error {
 public:
  SystemError(const std::string& what, int err, const std::string& fix = "");
  int err() const { return err_; }

 private:
  int err_;
};

}  // namespace socklb
