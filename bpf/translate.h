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
	LB_REFUSE,     /* a ClusterIP with no usable backend for this port, or without this port */
};

/* What a translation decided, beyond the verdict: for the counters and the
 * trace (counters.h, trace.h). */
struct lb_outcome {
	__u32 service_id; /* translated to, or refused for lack of a backend; 0: none known */
	__u32 backend_id; /* translated to */
	__u8 reason;      /* SOCKLB_REASON_* of a refusal */
	__u8 flags;       /* SOCKLB_TRACE_AFFINITY, SOCKLB_TRACE_HELD */
	__u8 pad[2];
};

/* A UDP socket's replies are told apart by their source: for a new flow it
 * looks at this many slots from the random one for a backend none of its other
 * flows uses, so a reply cannot be taken for another ClusterIP's. */
#define LB_DISTINCT_TRIES 4

SOCKLB_INLINE int lb_same_backend(const struct lb_backend *b, const struct socklb_flow *f)
{
	return b->port == f->backend_port && socklb_addr_equal(b->addr, f->backend);
}

enum lb_pick_result {
	LB_PICK_PASS,      /* not a ClusterIP: leave the socket alone */
	LB_PICK_DIRECT,    /* a pod address, dialled directly */
	LB_PICKED,         /* p->backend, for a new flow */
	LB_PICK_HELD,      /* the flow's own backend still serves the service */
	LB_PICK_REFUSE,    /* a ClusterIP with no usable backend for this port */
	LB_PICK_NO_PORT,   /* a ClusterIP without this port/protocol */
	LB_PICK_AGAIN,     /* caught the maps changing: try again */
};

struct lb_picked {
	struct lb_service svc;
	struct lb_backend backend;
	__u32 from_affinity;
	__u32 pad;
};

/*
 * One attempt at translating d: what d is, the service on its port, and a
 * backend for it. A global function, so the verifier checks it once, on its
 * own, however many times and from wherever it is called: inlined into the
 * retry loop of both protocols it made the programs take seconds to load.
 */
__noinline int lb_pick_once(struct bpf_sock_addr *ctx, struct lb_dest *d, struct socklb_addr_value *addr,
			    struct socklb_flow *held, struct lb_picked *p)
{
	/* pointers to a global function may be NULL as far as the verifier knows;
	 * addr and held may be, the others are not */
	if (!d || !p)
		return LB_PICK_REFUSE;
	if (!addr)
		addr = lb_lookup_addr(d);
	if (!addr)
		return LB_PICK_PASS;
	if (SOCKLB_READ_ONCE(addr->kind) != SOCKLB_ADDR_VIP)
		return LB_PICK_DIRECT;
	enum lb_read read = lb_read_service(d, addr, &p->svc);

	if (read == LB_READ_NO_PORT)
		return LB_PICK_NO_PORT;
	if (read == LB_READ_AGAIN)
		return LB_PICK_AGAIN;
	if (!p->svc.count)
		return LB_PICK_REFUSE;
	if (held && lb_read_held_backend(held->backend_id, p->svc.id, &p->backend) && lb_same_backend(&p->backend, held))
		return LB_PICK_HELD;
	p->from_affinity = 0;
	if (p->svc.flags & SOCKLB_SERVICE_AFFINITY) {
		if (lb_affine_backend(ctx, &p->svc, bpf_ktime_get_ns(), &p->backend)) {
			p->from_affinity = 1;
			return LB_PICKED;
		}
	}
	if (lb_slot(&p->svc, socklb_slot_for_random(bpf_get_prandom_u32(), p->svc.count), &p->backend) != LB_SLOT_OK)
		return LB_PICK_AGAIN;
	return LB_PICKED;
}

/* The first attempt uses addr, d's entry as the caller found it; the others
 * look it up again after a change under an attempt: the element found first
 * may have been reused, a slot set replaced. */
SOCKLB_INLINE int lb_pick(struct bpf_sock_addr *ctx, struct lb_dest *d, struct socklb_addr_value *addr,
			  struct socklb_flow *held, struct lb_picked *p)
{
	int r = lb_pick_once(ctx, d, addr, held, p);

	for (int attempt = 1; attempt < LB_ATTEMPTS && r == LB_PICK_AGAIN; attempt++)
		r = lb_pick_once(ctx, d, NULL, held, p);
	/* the service changed under every attempt: as if it had no backend */
	return r == LB_PICK_AGAIN ? LB_PICK_REFUSE : r;
}

/* For a new UDP flow: a backend none of the socket's other flows uses, if one
 * of the next few slots has one, so a reply cannot be taken for another
 * ClusterIP's; else the one picked (the reply of one flow may then show the
 * other's ClusterIP). A global function: verified once. */
__noinline int lb_distinct_backend(struct bpf_sock_addr *ctx, struct lb_dest *d, struct lb_picked *p)
{
	if (!d || !p || p->from_affinity)
		return 0;
	struct socklb_sock_state *s = flows_get(ctx, 0);

	if (!s || !flows_backend_taken(ctx, s, d, &p->backend))
		return 0;
	__u32 first = socklb_slot_for_random(bpf_get_prandom_u32(), p->svc.count);

	for (__u32 i = 0; i < LB_DISTINCT_TRIES; i++) {
		struct lb_backend other;
		__u32 index = first + i;

		if (i >= p->svc.count)
			return 0;
		if (index >= p->svc.count)
			index -= p->svc.count;
		if (lb_slot(&p->svc, index, &other) == LB_SLOT_OK && !flows_backend_taken(ctx, s, d, &other)) {
			p->backend = other;
			return 0;
		}
	}
	return 0;
}

/* The socket's flow to d, if it has one, copied into *held (1; else 0);
 * makes the socket's storage. A global function: verified once. */
__noinline int lb_held_flow(struct bpf_sock_addr *ctx, struct lb_dest *d, struct socklb_flow *held)
{
	if (!d || !held)
		return 0;
	struct socklb_sock_state *s = flows_get(ctx, 1);

	if (!s)
		return 0;
	struct flow_ref earlier = flows_find_vip(ctx, s, d);

	if (!earlier.flow)
		return 0;
	*held = *earlier.flow;
	return 1;
}

/* Records the socket's flow to d, going to b (or points its flow to d at b).
 * A global function: verified once. */
__noinline int lb_record_flow(struct bpf_sock_addr *ctx, struct lb_dest *d, struct lb_backend *b)
{
	if (!d || !b)
		return 0;
	struct socklb_sock_state *s = flows_get(ctx, 1);

	if (s)
		flows_remember(ctx, s, flows_find_vip(ctx, s, d), d, b);
	return 0;
}

SOCKLB_INLINE void lb_rewrite(struct lb_dest *d, const struct lb_backend *b)
{
	__builtin_memcpy(d->addr, b->addr, sizeof(d->addr));
	d->port = b->port;
}

/* TCP: no per-socket state unless the backend is SHARED (the reverse map
 * cannot say which ClusterIP a socket to it dialled). */
SOCKLB_INLINE enum lb_verdict lb_translated_tcp(struct bpf_sock_addr *ctx, struct lb_dest *d, struct lb_picked *p)
{
	if ((p->svc.flags & SOCKLB_SERVICE_AFFINITY) && !p->from_affinity)
		lb_remember_affinity(ctx, &p->svc, bpf_ktime_get_ns(), p->backend.id);
	if (p->backend.flags & SOCKLB_BACKEND_SHARED)
		lb_record_flow(ctx, d, &p->backend);
	lb_rewrite(d, &p->backend);
	return LB_TRANSLATED;
}

/* UDP: a flow keeps its backend while that backend serves the service, and
 * is remembered so replies show the ClusterIP. Without storage (out of
 * memory) the send still works; only its replies then show the pod address. */
SOCKLB_INLINE enum lb_verdict lb_translate_udp(struct bpf_sock_addr *ctx, struct lb_dest *d,
					       struct socklb_addr_value *addr, struct lb_outcome *o)
{
	struct socklb_flow held = {};
	struct lb_picked p = {};
	int has_flow = lb_held_flow(ctx, d, &held);

	switch (lb_pick(ctx, d, addr, has_flow ? &held : NULL, &p)) {
	case LB_PICK_PASS:
	case LB_PICK_DIRECT:
		return LB_PASS;
	case LB_PICK_NO_PORT:
		o->reason = SOCKLB_REASON_NO_PORT;
		return LB_REFUSE;
	case LB_PICK_REFUSE:
		o->service_id = p.svc.id;
		o->reason = SOCKLB_REASON_NO_BACKEND;
		return LB_REFUSE;
	case LB_PICKED:
		lb_distinct_backend(ctx, d, &p);
		if ((p.svc.flags & SOCKLB_SERVICE_AFFINITY) && !p.from_affinity)
			lb_remember_affinity(ctx, &p.svc, bpf_ktime_get_ns(), p.backend.id);
		lb_record_flow(ctx, d, &p.backend);
		o->flags = p.from_affinity ? SOCKLB_TRACE_AFFINITY : 0;
		break;
	default: /* LB_PICK_HELD */
		o->flags = SOCKLB_TRACE_HELD;
		break;
	}
	o->service_id = p.svc.id;
	o->backend_id = p.backend.id;
	lb_rewrite(d, &p.backend);
	return LB_TRANSLATED;
}

SOCKLB_INLINE enum lb_verdict lb_translate_tcp(struct bpf_sock_addr *ctx, struct lb_dest *d,
					       struct socklb_addr_value *addr, struct lb_outcome *o)
{
	struct lb_picked p = {};

	switch (lb_pick(ctx, d, addr, NULL, &p)) {
	case LB_PICK_PASS:
	case LB_PICK_DIRECT: /* gone meanwhile, or never: leave it alone */
		return LB_PASS;
	case LB_PICK_NO_PORT:
		o->reason = SOCKLB_REASON_NO_PORT;
		return LB_REFUSE;
	case LB_PICK_REFUSE:
		o->service_id = p.svc.id;
		o->reason = SOCKLB_REASON_NO_BACKEND;
		return LB_REFUSE;
	default:
		o->service_id = p.svc.id;
		o->backend_id = p.backend.id;
		o->flags = p.from_affinity ? SOCKLB_TRACE_AFFINITY : 0;
		return lb_translated_tcp(ctx, d, &p);
	}
}

/*
 * connect() and unconnected sendmsg(): translate a ClusterIP destination.
 * Anything else leaves after one lookup. *o says why, for a verdict other
 * than LB_PASS.
 */
SOCKLB_INLINE enum lb_verdict lb_translate(struct bpf_sock_addr *ctx, struct lb_dest *d, struct lb_outcome *o)
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
	if (d->proto == SOCKLB_PROTO_UDP)
		return lb_translate_udp(ctx, d, addr, o);
	return lb_translate_tcp(ctx, d, addr, o);
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
