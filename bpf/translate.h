/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The two questions the hooks ask: where does a connect (or an unconnected
 * sendmsg) to this destination go, and which ClusterIP did a socket dial to
 * reach the peer it has now.
 */
#pragma once

#include "flows.h"

enum lb_verdict {
	LB_PASS,       /* not a ClusterIP: leave the socket alone */
	LB_TRANSLATED, /* d now holds the backend */
	LB_REFUSE,     /* a ClusterIP with no usable backend for this port */
};

/* A UDP socket's replies are told apart by their source: for a new flow it
 * looks at this many slots from the random one for a backend none of its other
 * flows uses, so a reply cannot be taken for another ClusterIP's. */
#define LB_DISTINCT_TRIES 4

SOCKLB_INLINE int lb_same_backend(const struct lb_backend *b, const struct socklb_flow *f)
{
	return b->port == f->backend_port && socklb_addr_equal(b->addr, f->backend);
}

/* A random backend of the live set; for a UDP socket, preferably one whose
 * replies cannot be confused with another of its flows. */
SOCKLB_INLINE enum lb_slot lb_pick_random(struct bpf_sock_addr *ctx, struct socklb_sock_state *s,
					  const struct lb_dest *d, const struct lb_service *svc, struct lb_backend *out)
{
	__u32 first = socklb_slot_for_random(bpf_get_prandom_u32(), svc->count);

	if (lb_slot(svc, first, out) != LB_SLOT_OK)
		return LB_SLOT_GONE;
	if (!s || !flows_backend_taken(ctx, s, d, out))
		return LB_SLOT_OK;
	for (__u32 i = 1; i < LB_DISTINCT_TRIES; i++) {
		struct lb_backend other;
		__u32 index = first + i;

		if (i >= svc->count)
			break;
		if (index >= svc->count)
			index -= svc->count;
		if (lb_slot(svc, index, &other) == LB_SLOT_OK && !flows_backend_taken(ctx, s, d, &other)) {
			*out = other;
			break;
		}
	}
	return LB_SLOT_OK; /* every backend is taken: the reply of one flow may show the other's ClusterIP */
}

/*
 * connect() and unconnected sendmsg(): translate a ClusterIP destination. A
 * UDP socket that already talked to this ClusterIP keeps its backend while
 * that backend still serves the service (replies keep coming from one pod).
 * A TCP connect writes no per-socket state unless its backend is SHARED.
 */
SOCKLB_INLINE enum lb_verdict lb_translate(struct bpf_sock_addr *ctx, struct lb_dest *d)
{
	if (d->proto != SOCKLB_PROTO_TCP && d->proto != SOCKLB_PROTO_UDP)
		return LB_PASS;
	struct socklb_addr_value *addr = lb_lookup_addr(d);

	if (!addr)
		return LB_PASS;
	if (SOCKLB_READ_ONCE(addr->kind) != SOCKLB_ADDR_VIP) {
		/* a pod dialled directly: its TCP socket is not to be shown a
		 * ClusterIP (a UDP socket's replies are mapped from its flows only) */
		if (d->proto == SOCKLB_PROTO_TCP)
			flows_mark_direct(ctx);
		return LB_PASS;
	}

	/* Without storage (out of memory) a UDP send still works; only its
	 * replies then show the pod address. */
	struct socklb_sock_state *s = d->proto == SOCKLB_PROTO_UDP ? flows_get(ctx, 1) : NULL;
	struct flow_ref earlier = {};

	if (s)
		earlier = flows_find_vip(ctx, s, d);
	for (int attempt = 0; attempt < LB_ATTEMPTS; attempt++) {
		struct lb_service svc;
		struct lb_backend b;
		enum lb_read read = lb_read_service(d, &svc);

		if (read == LB_READ_NO_PORT)
			return LB_REFUSE;
		if (read == LB_READ_AGAIN)
			continue;
		if (!svc.count)
			return LB_REFUSE;

		if (earlier.flow && lb_read_held_backend(earlier.flow->backend_id, svc.id, &b) &&
		    lb_same_backend(&b, earlier.flow)) {
			/* its pod still serves the service: nothing to record */
		} else {
			__u64 now = 0;
			int affine = svc.flags & SOCKLB_SERVICE_AFFINITY;

			if (affine)
				now = bpf_ktime_get_ns();
			if (!affine || !lb_affine_backend(ctx, &svc, now, &b)) {
				if (lb_pick_random(ctx, s, d, &svc, &b) != LB_SLOT_OK)
					continue;
				if (affine)
					lb_remember_affinity(ctx, &svc, now, b.id);
			}
			if (s) {
				flows_remember(ctx, s, earlier, d, &b);
			} else if (b.flags & SOCKLB_BACKEND_SHARED) {
				/* the reverse map cannot tell which ClusterIP this was */
				s = flows_get(ctx, 1);
				if (s)
					flows_remember(ctx, s, flows_find_vip(ctx, s, d), d, &b);
			}
		}
		__builtin_memcpy(d->addr, b.addr, sizeof(d->addr));
		d->port = b.port;
		return LB_TRANSLATED;
	}
	/* the service changed under every attempt: as if it had no backend */
	return LB_REFUSE;
}

/*
 * getpeername() and recvmsg(): the ClusterIP the socket dialled instead of the
 * pod address it was translated to. A socket with its own state is answered
 * by it alone; a TCP socket without any by the reverse map. Returns 1 and
 * rewrites addr/port when the peer is to be shown as a ClusterIP.
 */
SOCKLB_INLINE int lb_reverse(struct bpf_sock_addr *ctx, __be32 addr[4], __be16 *port)
{
	struct socklb_sock_state *s = flows_get(ctx, 0);
	__be32 vip[4];
	__be16 vip_port;

	if (s) {
		if (!flows_find_peer(ctx, s, addr, *port, vip, &vip_port))
			return 0;
	} else {
		/* a UDP socket that was translated always has state */
		if (ctx->protocol != SOCKLB_PROTO_TCP)
			return 0;
		struct socklb_reverse_key key = { .port = *port, .proto = SOCKLB_PROTO_TCP };

		__builtin_memcpy(key.addr, addr, sizeof(key.addr));
		struct socklb_reverse_value *r = bpf_map_lookup_elem(&reverse, &key);

		if (!r)
			return 0;
		__builtin_memcpy(vip, r->vip, sizeof(vip));
		vip_port = r->vip_port;
	}
	__builtin_memcpy(addr, vip, sizeof(vip));
	*port = vip_port;
	return 1;
}
