#pragma once
// The rule that keeps a connect from ever using an id after it was given to
// something else: an id a plan frees is not handed out again until the maps'
// next wait for readers (docs/datapath.md). Kept between syncs.

#include <vector>

#include "plan/plan.h"

namespace socklb {

class IdQuarantine {
 public:
  // The ids the next plan must not hand out.
  void restrict(PlanLimits& limits) const {
    limits.quarantined_service_ids = service_ids_;
    limits.quarantined_backend_ids = backend_ids_;
  }

  // After the plan was applied. Its wait for readers (when it removed
  // anything) ended every connect that could hold an id freed before; the
  // ids it freed after that wait for the next one.
  void applied(const Plan& plan) {
    if (!plan.waits_for_readers()) return;
    service_ids_ = plan.released_service_ids;
    backend_ids_ = plan.released_backend_ids;
  }

  // After a failed apply: what it may have freed waits a whole quarantine.
  void failed(const Plan& plan) {
    service_ids_.insert(service_ids_.end(), plan.released_service_ids.begin(), plan.released_service_ids.end());
    backend_ids_.insert(backend_ids_.end(), plan.released_backend_ids.begin(), plan.released_backend_ids.end());
  }

 private:
  std::vector<uint32_t> service_ids_;
  std::vector<uint32_t> backend_ids_;
};

}  // namespace socklb
