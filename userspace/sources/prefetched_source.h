#pragma once
// A source whose first read starts at once, on a thread of its own: the
// agent reads the manifests while it loads the programs and creates the
// maps (the two take about as long at 10,000 services, and neither needs
// the other). Later reads are the inner source's, on the caller's thread.

#include <future>

#include "sources/object_source.h"

namespace socklb {

class PrefetchedSource : public ObjectSource {
 public:
  // `inner` must not be used by anyone else until wait() returned or the
  // first read() was taken.
  explicit PrefetchedSource(ObjectSource& inner)
      : inner_(inner), first_(std::async(std::launch::async, [&inner] { return inner.read(); })) {}
  ~PrefetchedSource() override { wait(); }

  // The first call returns (or throws) what the early read gave.
  SourceUpdate read() override { return first_.valid() ? first_.get() : inner_.read(); }

  // Returns once the early read is done: the inner source is the caller's again.
  void wait() const {
    if (first_.valid()) first_.wait();
  }

 private:
  ObjectSource& inner_;
  std::future<SourceUpdate> first_;
};

}  // namespace socklb
