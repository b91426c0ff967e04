#include "kernel/array_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "sys/sys_error.h"
#include "sys/unique_fd.h"
#include "socklb_array_reader.skel.h"

namespace socklb {

struct ArrayReader::Programs {
  struct Deleter {
    void operator()(socklb_array_reader* skel) const { socklb_array_reader__destroy(skel); }
  };
  std::unique_ptr<socklb_array_reader, Deleter> skel;
};

std::optional<std::string> ArrayReader::refused() {
  static const std::optional<std::string> why = []() -> std::optional<std::string> {
    int btf_id = libbpf_find_vmlinux_btf_id("bpf_map_elem", BPF_TRACE_ITER);
    if (btf_id < 0) return "the kernel has no map element iterator (bpf_iter_bpf_map_elem in its BTF)";
    const struct bpf_insn return_zero[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_ITER,
                .attach_btf_id = static_cast<__u32>(btf_id));
    UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_TRACING, "socklb_probe", "Dual BSD/GPL", return_zero, 2, &opts));
    if (!prog) return SystemError("the kernel refuses map element iterators (iter/bpf_map_elem)", errno).what();
    return std::nullopt;
  }();
  return why;
}

ArrayReader::ArrayReader() : programs_(std::make_unique<Programs>()) {
  programs_->skel.reset(socklb_array_reader__open_and_load());
  if (!programs_->skel) throw SystemError("the kernel refused the map readers (iter/bpf_map_elem)", errno);
}

ArrayReader::~ArrayReader() = default;

MapEntries ArrayReader::read(MapId map, int map_fd) const {
  bpf_program* prog = map == MapId::ServiceState ? programs_->skel->progs.socklb_read_service_state
                      : map == MapId::Backends   ? programs_->skel->progs.socklb_read_backends
                                                 : nullptr;
  if (!prog) throw std::logic_error("no map reader for " + std::string(describe(map).name));
  union bpf_iter_link_info info = {};
  info.map.map_fd = static_cast<__u32>(map_fd);
  LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
  struct LinkDeleter {
    void operator()(bpf_link* link) const { bpf_link__destroy(link); }
  };
  std::unique_ptr<bpf_link, LinkDeleter> link(bpf_program__attach_iter(prog, &opts));
  if (!link) throw SystemError("cannot attach the reader of map " + std::string(describe(map).name), errno);
  UniqueFd iter(bpf_iter_create(bpf_link__fd(link.get())));
  if (!iter) throw SystemError("cannot start the reader of map " + std::string(describe(map).name), errno);

  // records of (u32 index, value); reading the iterator is what runs it
  const std::size_t key_size = sizeof(uint32_t), value_size = describe(map).value_size;
  Bytes stream;
  uint8_t buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(iter.get(), buf, sizeof(buf));
    // EAGAIN: a million free indexes in a row gave nothing to return yet;
    // the iterator keeps its place
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) throw SystemError("reading map " + std::string(describe(map).name), errno);
    if (n == 0) break;
    stream.insert(stream.end(), buf, buf + n);
  }
  if (stream.size() % (key_size + value_size) != 0)
    throw std::runtime_error("the reader of map " + std::string(describe(map).name) + " returned a partial entry");
  MapEntries out;
  out.reserve(stream.size() / (key_size + value_size));
  for (auto it = stream.begin(); it != stream.end(); it += key_size + value_size)
    out.emplace_back(Bytes(it, it + key_size), Bytes(it + key_size, it + key_size + value_size));
  return out;
}

}  // namespace socklb
