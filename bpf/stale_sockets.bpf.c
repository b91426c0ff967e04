// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Closes connected sockets whose backend was removed. connect() picks a pod
 * once; a connected UDP socket (a DNS client, say) or a long-lived TCP one
 * would otherwise talk to a deleted pod until the application gives up. The
 * agent runs these socket iterators after a sync that removed backends, in
 * each network namespace of the cgroup it serves (an iterator walks only the
 * namespace it is created in).
 *
 * Only sockets socklb translated (they carry sock_xlate storage) and only
 * those whose current destination is a translated backend that is no longer
 * in the backends map are touched. bpf_sock_destroy() aborts them with
 * ECONNABORTED, so the application reconnects and gets a live pod.
 */
#include "sock_xlate.h"

#include <bpf/bpf_core_read.h>

#define SOCKLB_AF_INET 2
#define SOCKLB_AF_INET6 10
#define SOCKLB_TCP_ESTABLISHED 1
#define SOCKLB_TCP_LISTEN 10
#define SOCKLB_TCP_CLOSE 7

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

/* Sockets destroyed, read by the agent after each walk. (Not the iterator's
 * text output: a line written after destroying a UDP socket does not arrive.) */
__u64 sockets_closed;

/* Is this socket connected to a backend socklb chose that is gone now? */
static __always_inline int is_stale(struct sock *sk)
{
	struct sock_common *skc = &sk->__sk_common;
	struct socklb_sock_xlate *x = bpf_sk_storage_get(&sock_xlate, sk, 0, 0);
	__be32 peer[4];

	if (!x)
		return 0;
	if (skc->skc_family == SOCKLB_AF_INET) {
		socklb_map_v4(peer, skc->skc_daddr);
	} else if (skc->skc_family == SOCKLB_AF_INET6) {
		BPF_CORE_READ_INTO(&peer, skc, skc_v6_daddr.in6_u.u6_addr32);
	} else {
		return 0;
	}
	struct socklb_xlate_entry *e = xlate_find_backend(x, peer, skc->skc_dport);

	if (!e)
		return 0;
	__u32 id = e->backend_id;
	struct socklb_backend *b = bpf_map_lookup_elem(&backends, &id);

	/* an id reused for another address counts as gone too */
	return !(b && b->port == e->backend_port && socklb_addr_equal(b->addr, e->backend));
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

	if (sk->__sk_common.skc_state == SOCKLB_TCP_LISTEN || sk->__sk_common.skc_state == SOCKLB_TCP_CLOSE)
		return 0;
	if (is_stale(sk))
		destroy(skc);
	return 0;
}

SEC("iter/udp")
int socklb_stale_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;

	if (!udp)
		return 0;
	struct sock *sk = (struct sock *)udp;

	/* connected UDP only: an unconnected one already picks a live pod on its next sendmsg */
	if (sk->__sk_common.skc_state != SOCKLB_TCP_ESTABLISHED)
		return 0;
	if (is_stale(sk))
		destroy((struct sock_common *)udp);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
