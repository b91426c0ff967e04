#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

namespace kt {

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // only async-signal-safe calls until exec
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  reader_ = std::thread([this, fd = pipe_fds[0]] { read_loop(fd); });
}

ChildProcess::~ChildProcess() {
  if (running()) signal(SIGKILL);
  wait();
  if (reader_.joinable()) reader_.join();
}

void ChildProcess::read_loop(int fd) {
  std::string partial;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    partial.append(buf, n);
    std::size_t nl;
    std::lock_guard lock(mutex_);
    while ((nl = partial.find('\n')) != std::string::npos) {
      lines_.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
    changed_.notify_all();
  }
  std::lock_guard lock(mutex_);
  if (!partial.empty()) lines_.push_back(partial);
  changed_.notify_all();
  close(fd);
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && status_ < 0) kill(pid_, sig);
}

bool ChildProcess::running() {
  if (status_ >= 0) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int ChildProcess::wait() {
  if (status_ < 0) {
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  if (reader_.joinable()) reader_.join();
  return status_;
}

std::vector<std::string> ChildProcess::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::string ChildProcess::output() const {
  std::string out;
  for (const auto& line : lines()) out += line + "\n";
  return out;
}

int ChildProcess::wait_for_line(const std::function<bool(const std::string&)>& pred, std::size_t from,
                                std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (std::size_t i = from; i < lines_.size(); ++i)
      if (pred(lines_[i])) return static_cast<int>(i);
    from = std::max(from, lines_.size());
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (std::size_t i = from; i < lines_.size(); ++i)
        if (pred(lines_[i])) return static_cast<int>(i);
      return -1;
    }
  }
}

CommandResult run_command(const std::vector<std::string>& argv) {
  ChildProcess child(argv);
  int code = child.wait();
  return {code, child.output()};
}

}  // namespace kt
