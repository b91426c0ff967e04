/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-socket memory of VIP -> backend translations (socket storage, freed with
 * the socket: nothing to clean up, no capacity to outgrow).
 */
#pragma once

#include "lb.h"

#define SOCKLB_XLATE_MASK (SOCKLB_XLATE_PER_SOCKET - 1)
_Static_assert((SOCKLB_XLATE_PER_SOCKET & SOCKLB_XLATE_MASK) == 0, "power of two");

SOCKLB_INLINE struct socklb_xlate_entry *xlate_find_vip(struct socklb_sock_xlate *x, const struct lb_dest *d)
{
	for (int i = 0; i < SOCKLB_XLATE_PER_SOCKET; i++) {
		struct socklb_xlate_entry *e = &x->entries[i];

		if (e->backend_id && e->vip_port == d->port && socklb_addr_equal(e->vip, d->addr))
			return e;
	}
	return NULL;
}

SOCKLB_INLINE struct socklb_xlate_entry *xlate_find_backend(struct socklb_sock_xlate *x, const __be32 addr[4],
							     __be16 port)
{
	for (int i = 0; i < SOCKLB_XLATE_PER_SOCKET; i++) {
		struct socklb_xlate_entry *e = &x->entries[i];

		if (e->backend_id && e->backend_port == port && socklb_addr_equal(e->backend, addr))
			return e;
	}
	return NULL;
}

SOCKLB_INLINE void xlate_remember(struct socklb_sock_xlate *x, struct socklb_xlate_entry *e,
				  const struct lb_dest *vip, const struct socklb_backend *backend, __u32 backend_id)
{
	if (!e) {
		__u32 victim = x->next & SOCKLB_XLATE_MASK;

		x->next = victim + 1;
		e = &x->entries[victim];
	}
	__builtin_memcpy(e->vip, vip->addr, sizeof(e->vip));
	__builtin_memcpy(e->backend, backend->addr, sizeof(e->backend));
	e->vip_port = vip->port;
	e->backend_port = backend->port;
	e->backend_id = backend_id;
}

enum lb_verdict {
	LB_PASS,       /* not a ClusterIP: leave the socket alone */
	LB_TRANSLATED, /* d now holds the backend */
	LB_REFUSE,     /* a ClusterIP with no usable backend for this port */
};

/*
 * connect() and unconnected sendmsg(): translate a ClusterIP destination. A
 * socket that already talked to this VIP keeps its backend while that backend
 * still serves the service (UDP replies keep coming from the same pod).
 */
SOCKLB_INLINE enum lb_verdict lb_translate(struct bpf_sock_addr *ctx, struct lb_dest *d)
{
	if (d->proto != SOCKLB_PROTO_TCP && d->proto != SOCKLB_PROTO_UDP)
		return LB_PASS;
	if (!lb_is_vip(d))
		return LB_PASS;
	struct socklb_service_value *svc = lb_lookup_service(d);

	if (!svc || !svc->backend_count)
		return LB_REFUSE;

	struct bpf_sock *sk = ctx->sk;
	struct socklb_sock_xlate *x = NULL;
	struct socklb_xlate_entry *earlier = NULL;
	struct socklb_backend *backend = NULL;
	__u32 backend_id = 0;

	if (sk)
		x = bpf_sk_storage_get(&sock_xlate, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (x) {
		earlier = xlate_find_vip(x, d);
		if (earlier) {
			backend_id = earlier->backend_id;
			backend = lb_backend_of(backend_id, svc->id);
		}
	}
	if (!backend)
		backend = lb_pick(ctx, d, svc, &backend_id);
	if (!backend)
		return LB_REFUSE;
	/* Without storage (out of memory) the connect still works; only
	 * getpeername()/recvmsg() then show the pod address. */
	if (x)
		xlate_remember(x, earlier, d, backend, backend_id);
	__builtin_memcpy(d->addr, backend->addr, sizeof(d->addr));
	d->port = backend->port;
	return LB_TRANSLATED;
}

/* getpeername() and recvmsg(): show the VIP the socket dialled instead of the
 * pod address it was translated to. Returns the entry, or NULL to leave as is. */
SOCKLB_INLINE struct socklb_xlate_entry *lb_reverse(struct bpf_sock_addr *ctx, const __be32 addr[4], __be16 port)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return NULL;
	struct socklb_sock_xlate *x = bpf_sk_storage_get(&sock_xlate, sk, 0, 0);

	if (!x)
		return NULL;
	return xlate_find_backend(x, addr, port);
}
