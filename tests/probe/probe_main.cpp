// socklb-probe: the sockets end of the kernel tests and the demo.
//   serve   - answer on many addresses inside a network namespace; each reply
//             names the address that answered (which "pod" it was)
//   connect - join a cgroup and a namespace, then connect (TCP, connected or
//             unconnected UDP) and print one JSON line per attempt
// Joining the cgroup and the namespace itself (instead of `ip netns exec`)
// keeps /sys/fs/cgroup the host's (REFERENCE gotcha 7).

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "sockaddr_text.h"

namespace {

using probe::Endpoint;

[[noreturn]] void die(const std::string& what) {
  std::cerr << "socklb-probe: " << what << ": " << std::strerror(errno) << "\n";
  std::exit(2);
}

void join(const std::string& cgroup, const std::string& netns) {
  if (!cgroup.empty()) {
    std::ofstream procs(cgroup + "/cgroup.procs");
    procs << getpid() << std::endl;
    if (!procs) die("cannot join cgroup " + cgroup);
  }
  if (!netns.empty()) {
    int fd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) die("cannot enter netns " + netns);
    close(fd);
  }
}

Endpoint must_parse(const std::string& text) {
  auto ep = probe::parse_endpoint(text);
  if (!ep) {
    std::cerr << "socklb-probe: \"" << text << "\" is not IP:PORT, [IPv6]:PORT or NAME:PORT (a name that resolves)\n";
    std::exit(2);
  }
  return *ep;
}

// ---- serve ----

struct Listener {
  int fd;
  bool udp;
  std::string reply;
};

Listener listen_on(const std::string& spec, bool udp) {
  auto eq = spec.find('=');
  std::string where = spec.substr(0, eq);
  Endpoint ep = must_parse(where);
  int fd = socket(ep.family(), (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ep.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ep.addr), ep.len) != 0) die("bind " + where);
  if (!udp && listen(fd, 1024) != 0) die("listen " + where);
  std::string reply = where + (eq == std::string::npos ? "" : " " + spec.substr(eq + 1));
  return {fd, udp, reply + "\n"};
}

// keep_open: TCP connections stay open and get a reply per message, for
// clients that hold one connection (long-lived connections to a pod).
int serve(const std::vector<std::string>& tcp, const std::vector<std::string>& udp, bool keep_open) {
  std::vector<Listener> listeners;
  for (const auto& spec : tcp) listeners.push_back(listen_on(spec, false));
  for (const auto& spec : udp) listeners.push_back(listen_on(spec, true));
  std::vector<pollfd> fds;
  for (const auto& l : listeners) fds.push_back({l.fd, POLLIN, 0});
  std::map<int, std::string> open_conns;  // fd -> reply
  std::cout << "ready" << std::endl;
  char buf[2048];
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) die("poll");
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (i >= listeners.size()) {  // a kept connection: reply to each message, close at its end
        int conn = fds[i].fd;
        ssize_t n = read(conn, buf, sizeof(buf));
        if (n > 0) {
          (void)!write(conn, open_conns[conn].data(), open_conns[conn].size());
        } else {
          close(conn);
          open_conns.erase(conn);
          fds[i].fd = -1;  // poll skips it; the slot is dropped below
        }
        continue;
      }
      const Listener& l = listeners[i];
      if (l.udp) {
        sockaddr_storage peer{};
        socklen_t len = sizeof(peer);
        if (recvfrom(l.fd, buf, sizeof(buf), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&peer), &len) >= 0)
          sendto(l.fd, l.reply.data(), l.reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
      } else {
        int conn = accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) continue;
        if (keep_open) {
          open_conns[conn] = l.reply;
          fds.push_back({conn, POLLIN, 0});
          continue;
        }
        (void)!write(conn, l.reply.data(), l.reply.size());
        close(conn);
      }
    }
    std::erase_if(fds, [](const pollfd& p) { return p.fd < 0; });
  }
}

// ---- connect ----

struct ConnectFlags {
  std::vector<std::string> to;
  std::string proto = "tcp";
  int count = 1, timeout_ms = 2000, interval_ms = 0, duration_ms = 0;
  bool v4_mapped = false, reuse_socket = false;
  int fresh_netns = 0;  // attempts per new network namespace; 0: stay in one
  std::string until_file;  // stop once it exists
};

nlohmann::json attempt(const ConnectFlags& f, const Endpoint& target, int& shared_fd) {
  nlohmann::json out;
  auto fail = [&](const char* step) {
    int err = errno;
    out["ok"] = false;
    out["step"] = step;
    out["errno"] = err;
    out["error"] = strerrorname_np(err) ? strerrorname_np(err) : std::to_string(err);
    return out;
  };
  bool udp = f.proto != "tcp", connected = f.proto != "udp-unconnected";
  int fd = f.reuse_socket ? shared_fd : -1;
  bool fresh = fd < 0;
  if (fresh) {
    fd = socket(target.family(), (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail("socket");
    timeval tv{f.timeout_ms / 1000, (f.timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (f.reuse_socket) shared_fd = fd;
  }
  struct Closer {
    int fd;
    bool keep;
    ~Closer() {
      if (!keep) close(fd);
    }
  } closer{fd, f.reuse_socket};

  auto start = std::chrono::steady_clock::now();
  char buf[512] = {};
  ssize_t n;
  sockaddr_storage from{};
  socklen_t from_len = sizeof(from);
  if (connected) {
    // a reused socket is connected once, as a resolver's is
    if (fresh && connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len) != 0) return fail("connect");
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) out["peer"] = probe::endpoint_text(peer);
    // UDP, and a held TCP connection (to a serve --keep-open), ask; a fresh TCP one is answered at once
    if ((udp || f.reuse_socket) && send(fd, "ping", 4, MSG_NOSIGNAL) < 0) return fail("send");
    n = recv(fd, buf, sizeof(buf) - 1, 0);
  } else {
    if (sendto(fd, "ping", 4, 0, reinterpret_cast<const sockaddr*>(&target.addr), target.len) < 0) return fail("sendto");
    n = recvfrom(fd, buf, sizeof(buf) - 1, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    out["peer"] = probe::endpoint_text(from);
  }
  if (n < 0) return fail("recv");
  if (n == 0) {
    errno = ECONNRESET;  // the connection ended before the reply
    return fail("recv");
  }
  std::string reply(buf, n);
  while (!reply.empty() && reply.back() == '\n') reply.pop_back();
  auto space = reply.find(' ');
  out["ok"] = true;
  out["backend"] = reply.substr(0, space);
  out["label"] = space == std::string::npos ? "" : reply.substr(space + 1);
  out["ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

int connect_many(const ConnectFlags& f) {
  std::vector<Endpoint> targets;
  for (const auto& text : f.to) {
    targets.push_back(must_parse(text));
    if (f.v4_mapped) targets.back() = probe::to_v4_mapped(targets.back());
  }
  int shared_fd = -1;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::milliseconds(f.duration_ms);
  for (int i = 0; i < f.count; ++i) {
    auto now = std::chrono::steady_clock::now();
    if (f.duration_ms && now >= deadline) break;
    if (!f.until_file.empty() && access(f.until_file.c_str(), F_OK) == 0) break;
    // a new client as socklb sees it (its network namespace is the client);
    // the old namespace goes when nothing holds it
    if (f.fresh_netns && i % f.fresh_netns == 0 && unshare(CLONE_NEWNET) != 0) die("unshare(CLONE_NEWNET)");
    // several targets take turns; with --reuse-socket, one socket talks to them all
    auto line = attempt(f, targets[i % targets.size()], shared_fd);
    line["i"] = i;
    line["to"] = f.to[i % targets.size()];
    // CLOCK_MONOTONIC is system-wide: tests compare it with when they saw a sync logged
    line["t_us"] = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    // as a resolver does: a socket that failed is replaced by a new one
    if (f.reuse_socket && !line.value("ok", false) && shared_fd >= 0) {
      close(shared_fd);
      shared_fd = -1;
    }
    std::cout << line.dump() << "\n";
    if (f.interval_ms) std::this_thread::sleep_for(std::chrono::milliseconds(f.interval_ms));
  }
  std::cout.flush();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"socklb-probe: servers and clients for socklb's kernel tests and demo"};
  app.require_subcommand(1);
  std::string netns, cgroup;
  app.add_option("--netns", netns, "network namespace (by name, from /run/netns) to work in");
  app.add_option("--cgroup", cgroup, "cgroup v2 directory to join first");

  std::vector<std::string> tcp, udp;
  auto* serve_cmd = app.add_subcommand("serve", "Answer on each address with the address (and an optional label)");
  serve_cmd->add_option("--tcp", tcp, "IP:PORT[=label] to listen on (repeatable)");
  serve_cmd->add_option("--udp", udp, "IP:PORT[=label] to answer datagrams on (repeatable)");
  bool keep_open = false;
  serve_cmd->add_flag("--keep-open", keep_open, "keep TCP connections open and reply to each message");

  ConnectFlags f;
  auto* connect_cmd = app.add_subcommand("connect", "Connect and print one JSON line per attempt");
  connect_cmd->add_option("--to", f.to, "IP:PORT or [IPv6]:PORT; repeat it and the attempts take turns")->required();
  connect_cmd->add_option("--proto", f.proto, "tcp, udp (connected) or udp-unconnected (sendto)")
      ->check(CLI::IsMember({"tcp", "udp", "udp-unconnected"}));
  connect_cmd->add_option("--count", f.count, "attempts");
  connect_cmd->add_option("--timeout-ms", f.timeout_ms, "per attempt");
  connect_cmd->add_option("--interval-ms", f.interval_ms, "pause between attempts");
  connect_cmd->add_option("--duration-ms", f.duration_ms, "stop starting attempts after this long (0: no limit)");
  connect_cmd->add_option("--until-file", f.until_file,
                          "stop starting attempts once this file exists (a test's load that lasts exactly as long as "
                          "what it loads)");
  connect_cmd->add_flag("--v4-mapped", f.v4_mapped, "dial an IPv4 address from an IPv6 socket (::ffff:a.b.c.d)");
  connect_cmd->add_flag("--reuse-socket", f.reuse_socket, "one socket (connected once) for every attempt; a new one after a failure");
  connect_cmd->add_option("--fresh-netns", f.fresh_netns,
                          "N: every N attempts, move to a new network namespace of its own (a new client as socklb "
                          "sees it; nothing routes there: the connects fail after socklb translated them)");

  CLI11_PARSE(app, argc, argv);
  join(cgroup, netns);
  if (*serve_cmd) return serve(tcp, udp, keep_open);
  return connect_many(f);
}
