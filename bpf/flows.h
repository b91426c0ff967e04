/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-socket state, kept only where the shared maps cannot answer: the flows
 * of UDP sockets, TCP connects to a SHARED backend, and the mark of a socket
 * that dialled a pod address itself. The first SOCKLB_FLOWS_INLINE flows live
 * in the socket's storage (freed with the socket); more go to sock_flows and
 * sock_peers, keyed by the socket cookie, and are removed on release.
 */
#pragma once

#include "lb.h"

SOCKLB_INLINE struct socklb_sock_state *flows_get(struct bpf_sock_addr *ctx, int create)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return NULL;
	return bpf_sk_storage_get(&sock_state, sk, 0, create ? BPF_SK_STORAGE_GET_F_CREATE : 0);
}

SOCKLB_INLINE __u32 flows_inline(const struct socklb_sock_state *s)
{
	__u32 n = s->flow_count;

	return n < SOCKLB_FLOWS_INLINE ? n : SOCKLB_FLOWS_INLINE;
}

/* The flow of this socket to a ClusterIP:port: in its storage, or past it. */
struct flow_ref {
	struct socklb_flow *flow; /* NULL: none yet */
	int overflowed;           /* in sock_flows, answered in reverse by sock_peers */
};

SOCKLB_INLINE struct flow_ref flows_find_vip(struct bpf_sock_addr *ctx, struct socklb_sock_state *s,
					     const struct lb_dest *d)
{
	struct flow_ref ref = {};
	__u32 n = flows_inline(s);

	for (__u32 i = 0; i < SOCKLB_FLOWS_INLINE; i++) {
		struct socklb_flow *f = &s->flows[i];

		if (i < n && f->vip_port == d->port && socklb_addr_equal(f->vip, d->addr)) {
			ref.flow = f;
			return ref;
		}
	}
	if (s->flow_count <= SOCKLB_FLOWS_INLINE)
		return ref;
	struct socklb_sock_flow_key key = { .cookie = bpf_get_socket_cookie(ctx), .vip_port = d->port };

	__builtin_memcpy(key.vip, d->addr, sizeof(key.vip));
	struct socklb_flow *f = bpf_map_lookup_elem(&sock_flows, &key);

	if (f) {
		ref.flow = f;
		ref.overflowed = 1;
	}
	return ref;
}

/* Which ClusterIP:port a reply from addr:port answers, for this socket.
 * Returns 1 and fills vip/vip_port when one of its flows went there. */
SOCKLB_INLINE int flows_find_peer(struct bpf_sock_addr *ctx, struct socklb_sock_state *s, const __be32 addr[4],
				  __be16 port, __be32 vip[4], __be16 *vip_port)
{
	__u32 n = flows_inline(s);

	for (__u32 i = 0; i < SOCKLB_FLOWS_INLINE; i++) {
		struct socklb_flow *f = &s->flows[i];

		if (i < n && f->backend_port == port && socklb_addr_equal(f->backend, addr)) {
			__builtin_memcpy(vip, f->vip, sizeof(f->vip));
			*vip_port = f->vip_port;
			return 1;
		}
	}
	if (s->flow_count <= SOCKLB_FLOWS_INLINE)
		return 0;
	struct socklb_sock_peer_key key = { .cookie = bpf_get_socket_cookie(ctx), .backend_port = port };

	__builtin_memcpy(key.backend, addr, sizeof(key.backend));
	struct socklb_sock_peer_value *p = bpf_map_lookup_elem(&sock_peers, &key);

	if (!p)
		return 0;
	__builtin_memcpy(vip, p->vip, sizeof(p->vip));
	*vip_port = p->vip_port;
	return 1;
}

/* Would a reply from this backend be ambiguous: does another of the socket's
 * flows already go to the same address:port for another ClusterIP:port? */
SOCKLB_INLINE int flows_backend_taken(struct bpf_sock_addr *ctx, struct socklb_sock_state *s, const struct lb_dest *d,
				      const struct lb_backend *b)
{
	__be32 vip[4];
	__be16 vip_port;

	if (!flows_find_peer(ctx, s, b->addr, b->port, vip, &vip_port))
		return 0;
	return vip_port != d->port || !socklb_addr_equal(vip, d->addr);
}

SOCKLB_INLINE void flows_fill(struct socklb_flow *f, const struct lb_dest *d, const struct lb_backend *b)
{
	__builtin_memcpy(f->vip, d->addr, sizeof(f->vip));
	__builtin_memcpy(f->backend, b->addr, sizeof(f->backend));
	f->vip_port = d->port;
	f->backend_port = b->port;
	f->backend_id = b->id;
	f->service_id = b->service_id;
	f->pad = 0;
}

SOCKLB_INLINE long flows_add_peer(__u64 cookie, const struct lb_dest *d, const struct lb_backend *b)
{
	struct socklb_sock_peer_key peer = { .cookie = cookie, .backend_port = b->port };
	struct socklb_sock_peer_value vip = { .vip_port = d->port };

	__builtin_memcpy(peer.backend, b->addr, sizeof(peer.backend));
	__builtin_memcpy(vip.vip, d->addr, sizeof(vip.vip));
	return bpf_map_update_elem(&sock_peers, &peer, &vip, BPF_ANY);
}

/* Records the socket's flow to d, or points its existing flow at b. */
SOCKLB_INLINE void flows_remember(struct bpf_sock_addr *ctx, struct socklb_sock_state *s, struct flow_ref existing,
				  const struct lb_dest *d, const struct lb_backend *b)
{
	if (existing.flow) {
		struct socklb_sock_peer_key old = { .backend_port = existing.flow->backend_port };

		__builtin_memcpy(old.backend, existing.flow->backend, sizeof(old.backend));
		flows_fill(existing.flow, d, b);
		if (!existing.overflowed)
			return;
		/* its reverse answer moves with it */
		old.cookie = bpf_get_socket_cookie(ctx);
		bpf_map_delete_elem(&sock_peers, &old);
		flows_add_peer(old.cookie, d, b);
		return;
	}
	__u32 n = s->flow_count;

	if (n < SOCKLB_FLOWS_INLINE) {
		flows_fill(&s->flows[n & (SOCKLB_FLOWS_INLINE - 1)], d, b);
		s->flow_count = n + 1;
		return;
	}
	struct socklb_flow f;
	struct socklb_sock_flow_key key = { .cookie = bpf_get_socket_cookie(ctx), .vip_port = d->port };

	__builtin_memcpy(key.vip, d->addr, sizeof(key.vip));
	flows_fill(&f, d, b);
	/* full: the connect still works; only this flow is not remembered */
	if (bpf_map_update_elem(&sock_flows, &key, &f, BPF_NOEXIST) != 0)
		return;
	if (flows_add_peer(key.cookie, d, b) != 0) {
		bpf_map_delete_elem(&sock_flows, &key);
		return;
	}
	s->flow_count = n + 1;
}

/* A socket that dials a pod address itself keeps seeing that address. */
SOCKLB_INLINE void flows_mark_direct(struct bpf_sock_addr *ctx)
{
	struct socklb_sock_state *s = flows_get(ctx, 1);

	if (s)
		s->flags |= SOCKLB_SOCK_DIRECT;
}
