// STREAM: one connection per thread sends --stream-chunk sized writes as fast
// as the path takes them, to a server that discards them. Bytes are counted
// when send() accepts them; the few MB still in socket buffers at the end are
// noise against seconds of GB/s.
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "clock.h"
#include "endpoint.h"
#include "workloads.h"

namespace loadgen {

Tally run_stream(const Options& options, unsigned thread_index, uint64_t warmup_end_ns, uint64_t end_ns) {
  Tally tally;
  const sockaddr_in& to = options.targets[thread_index % options.targets.size()];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) bench::throw_errno("socket");
  // A blocked send() must wake up to see the deadline.
  timeval timeout{0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
    tally.errors[std::string("connect: ") + std::strerror(errno)]++;
    close(fd);
    return tally;
  }
  std::string chunk(options.stream_chunk, 's');
  for (uint64_t t = now_ns(); t < end_ns; t = now_ns()) {
    ssize_t sent = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (sent < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (sent <= 0) {
      tally.errors[std::string("send: ") + std::strerror(errno)]++;
      break;
    }
    if (t >= warmup_end_ns) tally.bytes += static_cast<uint64_t>(sent);
  }
  close(fd);
  tally.ops = tally.bytes / options.stream_chunk;
  return tally;
}

}  // namespace loadgen
