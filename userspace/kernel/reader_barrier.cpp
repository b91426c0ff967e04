#include "kernel/reader_barrier.h"

#include <bpf/bpf.h>

#include <cerrno>

#include "sys/sys_error.h"

namespace socklb {

ReaderBarrier::ReaderBarrier() {
  inner_ = UniqueFd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "socklb_barrier", 4, 4, 1, nullptr));
  if (!inner_) throw SystemError("cannot create the reader barrier's inner map", errno);
  LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<__u32>(inner_.get()));
  outer_ = UniqueFd(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "socklb_barrier", 4, 4, 1, &opts));
  if (!outer_) throw SystemError("cannot create the reader barrier's map", errno);
}

void ReaderBarrier::wait() const {
  uint32_t key = 0;
  int inner = inner_.get();
  // returns after synchronize_rcu(): every program that started before has ended
  if (bpf_map_update_elem(outer_.get(), &key, &inner, BPF_ANY) != 0)
    throw SystemError("waiting for the programs in flight (map-in-map update)", errno);
}

}  // namespace socklb
