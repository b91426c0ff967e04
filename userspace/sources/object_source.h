#pragma once
// What the agent reads object events from: manifest files
// (manifest_source.h) or the Kubernetes API (kube_source.h).

#include "sources/object_event.h"

namespace socklb {

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // What changed since the last call, as one batch; the first call reports
  // every object. May throw std::runtime_error: nothing is reported then,
  // and the next call starts from the same point.
  virtual SourceUpdate read() = 0;
};

}  // namespace socklb
