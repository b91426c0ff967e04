#pragma once
// reconcile(): manifests -> desired state. Pure: no kernel, no files.

#include <map>
#include <string>
#include <vector>

#include "desired/backend_policy.h"
#include "desired/service_table.h"
#include "manifests/manifest_set.h"

namespace socklb {

struct ReconcileSettings {
  NodeIdentity node;
  // ClusterIPs must fall inside these, so the agent cannot be used to
  // redirect arbitrary destinations.
  std::vector<Cidr> service_cidrs;
  // Services labelled service.kubernetes.io/service-proxy-name with another
  // value belong to another proxy.
  std::string proxy_name = "socklb";
};

std::vector<Cidr> default_service_cidrs();  // 10.96.0.0/12 and fd00:10:96::/108

// serving_now: who owns each ClusterIP:port/protocol in the kernel now. A
// conflict between two services is settled in favour of the one serving.
DesiredState reconcile(const ManifestSet& input, const ReconcileSettings& settings,
                       const std::map<ServiceKey, ServiceRef>& serving_now);

}  // namespace socklb
