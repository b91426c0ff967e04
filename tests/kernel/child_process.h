#pragma once
// A child process for the kernel tests: started with fork+exec, its output
// collected line by line, killed with the test (PDEATHSIG) and on destruction.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kt {

class ChildProcess {
 public:
  // stdout and stderr are merged and collected.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  int wait();  // exit code, or 128 + signal
  bool running();

  std::vector<std::string> lines() const;
  // Waits until a line from index `from` on satisfies pred; returns its index or -1 on timeout.
  int wait_for_line(const std::function<bool(const std::string&)>& pred, std::size_t from,
                    std::chrono::milliseconds timeout) const;
  std::string output() const;

 private:
  void read_loop(int fd);

  pid_t pid_ = -1;
  int status_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<std::string> lines_;
};

// Runs a command to completion; returns exit code and merged output.
struct CommandResult {
  int code;
  std::string output;
};
CommandResult run_command(const std::vector<std::string>& argv);

}  // namespace kt
