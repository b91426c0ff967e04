// Kernel tests: skipped (exit 77) with the reason when this machine cannot
// load BPF programs, unless CI=true, where a skip is a failure.

#define DOCTEST_CONFIG_IMPLEMENT
#include <bpf/bpf.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "testbed.h"

namespace {

std::string why_kernel_tests_cannot_run() {
  if (geteuid() != 0) return "not running as root";
  if (!std::filesystem::exists("/sys/kernel/btf/vmlinux")) return "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
  try {
    kt::cgroup2_root();
  } catch (const std::exception&) {
    return "no cgroup v2 mount";
  }
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "socklb_probe", 4, 4, 1, nullptr);
  if (fd < 0) return std::string("cannot create a BPF map: ") + std::strerror(errno);
  close(fd);
  if (std::system("command -v ip >/dev/null") != 0) return "iproute2 (ip) is not installed";
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::string blocker = why_kernel_tests_cannot_run();
  if (!blocker.empty()) {
    const char* ci = std::getenv("CI");
    bool in_ci = ci && std::string(ci) == "true";
    std::cerr << (in_ci ? "FAILED" : "SKIPPED") << ": kernel tests need root and BPF: " << blocker << "\n";
    return in_ci ? 1 : 77;
  }
  kt::Testbed::sweep_leftovers();
  doctest::Context context(argc, argv);
  return context.run();
}
