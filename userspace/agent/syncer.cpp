#include "agent/syncer.h"

#include "datapath/kernel_state.h"
#include "plan/advance_state.h"
#include "plan/apply_plan.h"

namespace socklb {

Capacity Syncer::capacity() const {
  Capacity c;
  c.vips_v4 = store_.capacity(MapId::VipsV4);
  c.vips_v6 = store_.capacity(MapId::VipsV6);
  c.services_v4 = store_.capacity(MapId::ServicesV4);
  c.services_v6 = store_.capacity(MapId::ServicesV6);
  c.slots = store_.capacity(MapId::Slots);
  c.backends = store_.capacity(MapId::Backends);
  c.names = store_.capacity(MapId::ServiceNames);
  return c;
}

SyncResult Syncer::sync(const ManifestSet& input) {
  auto start = std::chrono::steady_clock::now();
  KernelState kernel = known_ ? std::move(*known_) : read_kernel_state(store_);
  known_.reset();  // until this sync's writes all went through
  DesiredState desired = reconcile(input, settings_, kernel.owners());
  Plan plan = make_plan(desired, kernel, capacity());
  apply_plan(plan, store_);
  advance_state(kernel, plan);
  known_ = std::move(kernel);

  SyncResult result;
  result.summary = plan.summary;
  result.writes = plan.writes();
  result.backends_deleted = plan.delete_backends.size();
  result.diagnostics = std::move(desired.diagnostics);
  result.diagnostics.insert(result.diagnostics.end(), plan.diagnostics.begin(), plan.diagnostics.end());
  result.took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  return result;
}

}  // namespace socklb
