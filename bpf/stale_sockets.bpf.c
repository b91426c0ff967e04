// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Closes connected sockets that lost their pod. connect() picks a pod once; a
 * connected UDP socket (a resolver's) or a long-lived TCP connection would
 * otherwise talk to a pod that is gone until the application gives up. The
 * agent runs these socket iterators after a sync, in each network namespace
 * of the cgroup it serves (an iterator walks only the namespace it is created
 * in). bpf_sock_destroy() aborts a socket with ECONNABORTED, so the
 * application reconnects and gets a live pod.
 *
 * What counts as lost follows kube-proxy, which never cuts a TCP flow to a pod
 * that still serves and clears UDP state only for endpoints that were removed
 * or stopped serving:
 *  - connected UDP: its flow's backend entry no longer belongs to the
 *    service (the endpoint was removed or stopped serving);
 *  - TCP: its peer is in `closing`, which the agent fills with the pod
 *    address:ports no service lists any more (a pod that is merely not ready,
 *    terminating, or left out by topology keeps its connections).
 * Only sockets of processes in the served cgroup are touched, and never one
 * that dialled the pod address itself.
 */
#include "flows.h"

#include <bpf/bpf_core_read.h>

#define SOCKLB_AF_INET 2
#define SOCKLB_AF_INET6 10
#define SOCKLB_TCP_ESTABLISHED 1
#define SOCKLB_TCP_CLOSE 7
#define SOCKLB_TCP_LISTEN 10
#define SOCKLB_CGROUP_DEPTH 32

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

/* Filled by the agent before a walk, emptied after; not pinned. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct socklb_reverse_key);
	__type(value, __u8);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} closing SEC(".maps");

/* The cgroup the agent serves (its id is its inode number), set before load. */
const volatile __u64 served_cgroup_id;

/* Sockets destroyed, read by the agent after each walk. (Not the iterator's
 * text output: a line written after destroying a UDP socket does not arrive.) */
__u64 sockets_closed;

static __always_inline int in_served_cgroup(struct sock *sk)
{
	struct cgroup *cgroup = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);

	for (int depth = 0; depth < SOCKLB_CGROUP_DEPTH && cgroup; depth++) {
		if (BPF_CORE_READ(cgroup, kn, id) == served_cgroup_id)
			return 1;
		/* a cgroup starts with its own css: the parent css is the parent cgroup */
		cgroup = (struct cgroup *)BPF_CORE_READ(cgroup, self.parent);
	}
	return 0;
}

/* The socket's peer in the maps' representation; 0 when not IPv4 or IPv6. */
static __always_inline int peer_of(struct sock *sk, __be32 addr[4], __be16 *port)
{
	struct sock_common *skc = &sk->__sk_common;

	if (skc->skc_family == SOCKLB_AF_INET)
		socklb_map_v4(addr, skc->skc_daddr);
	else if (skc->skc_family == SOCKLB_AF_INET6)
		BPF_CORE_READ_INTO(addr, skc, skc_v6_daddr.in6_u.u6_addr32);
	else
		return 0;
	*port = skc->skc_dport;
	return 1;
}

static __always_inline int dialled_directly(struct sock *sk)
{
	struct socklb_sock_state *s = bpf_sk_storage_get(&sock_state, sk, 0, 0);

	return s && (s->flags & SOCKLB_SOCK_DIRECT);
}

/* skc: the iterator's own (trusted) pointer, which the kfunc requires */
static __always_inline void destroy(struct sock_common *skc)
{
	if (bpf_sock_destroy(skc) == 0)
		__sync_fetch_and_add(&sockets_closed, 1);
}

SEC("iter/tcp")
int socklb_stale_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;

	if (!skc)
		return 0;
	/* full sockets only: not request or time-wait minisockets */
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);

	if (!tp)
		return 0;
	struct sock *sk = (struct sock *)tp;
	int state = sk->__sk_common.skc_state;
	struct socklb_reverse_key key = { .proto = SOCKLB_PROTO_TCP };

	if (state == SOCKLB_TCP_LISTEN || state == SOCKLB_TCP_CLOSE || !peer_of(sk, key.addr, &key.port))
		return 0;
	if (!bpf_map_lookup_elem(&closing, &key) || !in_served_cgroup(sk) || dialled_directly(sk))
		return 0;
	destroy(skc);
	return 0;
}

/* The flow a connected UDP socket's peer belongs to, if socklb made it. */
static __always_inline struct socklb_flow *flow_to(struct sock *sk, struct socklb_sock_state *s, const __be32 peer[4],
						   __be16 port)
{
	__u32 n = s->flow_count < SOCKLB_FLOWS_INLINE ? s->flow_count : SOCKLB_FLOWS_INLINE;

	for (__u32 i = 0; i < SOCKLB_FLOWS_INLINE; i++) {
		struct socklb_flow *f = &s->flows[i];

		if (i < n && f->backend_port == port && socklb_addr_equal(f->backend, peer))
			return f;
	}
	if (s->flow_count <= SOCKLB_FLOWS_INLINE)
		return NULL;
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct socklb_sock_peer_key pk = { .cookie = cookie, .backend_port = port };

	__builtin_memcpy(pk.backend, peer, sizeof(pk.backend));
	struct socklb_sock_peer_value *vip = bpf_map_lookup_elem(&sock_peers, &pk);

	if (!vip)
		return NULL;
	struct socklb_sock_flow_key fk = { .cookie = cookie, .vip_port = vip->vip_port };

	__builtin_memcpy(fk.vip, vip->vip, sizeof(fk.vip));
	return bpf_map_lookup_elem(&sock_flows, &fk);
}

SEC("iter/udp")
int socklb_stale_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;

	if (!udp)
		return 0;
	struct sock *sk = (struct sock *)udp;
	__be32 peer[4];
	__be16 port;

	/* connected UDP only: an unconnected one picks a live pod on its next sendmsg */
	if (sk->__sk_common.skc_state != SOCKLB_TCP_ESTABLISHED || !peer_of(sk, peer, &port))
		return 0;
	struct socklb_sock_state *s = bpf_sk_storage_get(&sock_state, sk, 0, 0);

	if (!s)
		return 0;
	struct socklb_flow *f = flow_to(sk, s, peer, port);

	if (!f)
		return 0;
	__u32 id = f->backend_id;
	struct socklb_backend *b = bpf_map_lookup_elem(&backends, &id);

	/* The agent writes no map while it walks, so the entry is read whole.
	 * A freed entry (zeros) or one given to another backend counts as gone. */
	if (b && b->service_id == f->service_id && b->port == f->backend_port && socklb_addr_equal(b->addr, f->backend))
		return 0;
	destroy((struct sock_common *)udp);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
