// CRR and RR: N connections in flight per thread on one epoll.
//   CRR: connect, send one request, read one reply, close; latency from
//        connect() to the last reply byte (the cost a service mesh of short
//        connections pays, and the case connect-time balancing exists for).
//   RR:  persistent connections; latency from send() to the last reply byte.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "clock.h"
#include "endpoint.h"
#include "workloads.h"

namespace loadgen {
namespace {

enum class State { connecting, reading };

struct Slot {
  int fd = -1;
  State state = State::connecting;
  uint64_t started_ns = 0;
  size_t received = 0;
  bool labelled = false;  // which pod answered is counted once per connection
};

class RequestReply {
 public:
  RequestReply(const Options& options, unsigned thread_index, uint64_t warmup_end_ns, uint64_t end_ns)
      : options_(options),
        warmup_end_ns_(warmup_end_ns),
        end_ns_(end_ns),
        next_target_(thread_index),
        request_(options.request_size, 'q'),
        slots_(options.connections) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) bench::throw_errno("epoll_create1");
  }
  ~RequestReply() {
    for (auto& s : slots_)
      if (s.fd >= 0) close(s.fd);
    close(epoll_);
  }

  Tally run() {
    for (uint32_t i = 0; i < slots_.size(); ++i) open(i);
    std::vector<epoll_event> events(slots_.size());
    while (now_ns() < end_ns_) {
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 10);
      for (int e = 0; e < n; ++e) handle(events[e].data.u32, events[e].events);
    }
    return std::move(tally_);
  }

 private:
  bool measuring(uint64_t t) const { return t >= warmup_end_ns_ && t < end_ns_; }

  void fail(uint32_t i, const char* step, int err) {
    if (measuring(now_ns())) tally_.errors[std::string(step) + ": " + std::strerror(err)]++;
    close(slots_[i].fd);  // also removes it from the epoll set
    slots_[i].fd = -1;
    open(i);
  }

  void open(uint32_t i) {
    Slot& s = slots_[i];
    for (;;) {
      s = Slot{};
      s.started_ns = now_ns();
      s.fd = bench::nonblocking_tcp_socket();
      bench::set_nodelay(s.fd);
      const sockaddr_in& to = options_.targets[next_target_++ % options_.targets.size()];
      if (connect(s.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0 || errno == EINPROGRESS) break;
      // Refused at connect() (socklb with no backend) or out of ports: count
      // it and try again; the run is bounded by time.
      int err = errno;
      if (measuring(now_ns())) tally_.errors[std::string("connect: ") + std::strerror(err)]++;
      close(s.fd);
      s.fd = -1;
      if (now_ns() >= end_ns_) return;
    }
    epoll_event ev{EPOLLOUT, {.u32 = i}};
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, s.fd, &ev) < 0) bench::throw_errno("epoll_ctl ADD");
  }

  bool send_request(uint32_t i) {
    ssize_t sent = send(slots_[i].fd, request_.data(), request_.size(), MSG_NOSIGNAL);
    if (sent == static_cast<ssize_t>(request_.size())) return true;
    fail(i, "send", sent < 0 ? errno : EMSGSIZE);
    return false;
  }

  void handle(uint32_t i, uint32_t events) {
    Slot& s = slots_[i];
    if (s.state == State::connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & EPOLLERR)) return fail(i, "connect", err ? err : ECONNRESET);
      if (!send_request(i)) return;
      s.state = State::reading;
      epoll_event ev{EPOLLIN, {.u32 = i}};
      epoll_ctl(epoll_, EPOLL_CTL_MOD, s.fd, &ev);
      return;
    }
    char buf[4096];
    ssize_t got = read(s.fd, buf, sizeof buf);
    if (got < 0 && errno == EAGAIN) return;
    if (got <= 0) return fail(i, "read", got < 0 ? errno : ECONNRESET);
    bool first_bytes = s.received == 0;
    s.received += static_cast<size_t>(got);
    if (s.received < options_.response_size) return;
    uint64_t t = now_ns();
    if (measuring(t) && s.started_ns >= warmup_end_ns_) {
      tally_.ops++;
      tally_.bytes += options_.request_size + options_.response_size;
      tally_.latencies_ns.push_back(static_cast<uint32_t>(std::min<uint64_t>(t - s.started_ns, UINT32_MAX)));
      if (first_bytes && !s.labelled) {
        std::string head(buf, std::min<size_t>(static_cast<size_t>(got), 64));
        tally_.answered_by[head.substr(0, head.find(' '))]++;
        s.labelled = true;
      }
    }
    if (options_.workload == Workload::crr) {
      close(s.fd);
      s.fd = -1;
      open(i);
    } else {
      s.received = 0;
      s.started_ns = t;
      send_request(i);
    }
  }

  const Options& options_;
  uint64_t warmup_end_ns_, end_ns_;
  size_t next_target_;
  std::string request_;
  std::vector<Slot> slots_;
  int epoll_;
  Tally tally_;
};

}  // namespace

Tally run_request_reply(const Options& options, unsigned thread_index, uint64_t warmup_end_ns, uint64_t end_ns) {
  return RequestReply(options, thread_index, warmup_end_ns, end_ns).run();
}

}  // namespace loadgen
