/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service lookup and backend choice, shared by the connect and sendmsg hooks
 * of both families. A destination is carried in the v4-mapped representation
 * (see socklb_maps.h) so one code path serves IPv4, IPv6 and IPv4 clients on
 * IPv6 sockets.
 *
 * Why these reads are safe while the agent rewrites the maps is in
 * docs/datapath.md; in short: a hash value is read once and only as an id,
 * everything else comes from arrays whose entries the kernel never moves,
 * and each id is checked against what it must belong to.
 */
#pragma once

#include "maps.bpf.h"

#define SOCKLB_INLINE static __always_inline
#include "backend_select.h"

/* one load the compiler may not repeat or split: what we checked is what we use */
#define SOCKLB_READ_ONCE(x) (*(volatile typeof(x) *)&(x))

/* A service entry changes only by a flip (one per sync), and an agent sync
 * waits for every connect in flight before its next one can flip again, so a
 * connect sees at most one flip: two reads suffice, four leave a margin. */
#define LB_ATTEMPTS 4

/* What the application asked for; rewritten in place on translation. */
struct lb_dest {
	__be32 addr[4];
	__be16 port;
	__u8 proto;
	__u8 is_v4;
};

/* A copy of a service entry, taken once per attempt. */
struct lb_service {
	__u32 id;
	__u32 affinity_timeout_sec;
	__u16 count;
	__u8 revision;
	__u8 flags;
};

/* A copy of a backend entry. */
struct lb_backend {
	__u32 id;
	__u32 service_id;
	__be32 addr[4];
	__be16 port;
	__u8 state;
	__u8 flags;
};

SOCKLB_INLINE struct socklb_addr_value *lb_lookup_addr(const struct lb_dest *d)
{
	if (d->is_v4) {
		struct socklb_addr4_key key = { .addr = d->addr[3] };

		return bpf_map_lookup_elem(&addrs_v4, &key);
	}
	struct socklb_addr6_key key = {};

	__builtin_memcpy(key.addr, d->addr, sizeof(key.addr));
	return bpf_map_lookup_elem(&addrs_v6, &key);
}

SOCKLB_INLINE struct socklb_service_ref *lb_lookup_ref(const struct lb_dest *d)
{
	if (d->is_v4) {
		struct socklb_service4_key key = { .vip = d->addr[3], .port = d->port, .proto = d->proto };

		return bpf_map_lookup_elem(&services_v4, &key);
	}
	struct socklb_service6_key key = { .port = d->port, .proto = d->proto };

	__builtin_memcpy(key.vip, d->addr, sizeof(key.vip));
	return bpf_map_lookup_elem(&services_v6, &key);
}

enum lb_read {
	LB_READ_OK,
	LB_READ_NO_PORT, /* the ClusterIP does not define this port/protocol */
	LB_READ_AGAIN,   /* caught the entry changing: read it again */
};

/* The id of the service on d's port: from the ClusterIP's own entry when
 * its ports fit there, else from the services map. 0: no such port. */
SOCKLB_INLINE __u32 lb_service_id(const struct lb_dest *d, const struct socklb_addr_value *addr)
{
	__u32 refs = SOCKLB_READ_ONCE(addr->refs);

	for (int i = 0; i < SOCKLB_PORTS_INLINE; i++) {
		const struct socklb_addr_port *p = &addr->ports[i];

		if (i < refs && SOCKLB_READ_ONCE(p->port) == d->port && SOCKLB_READ_ONCE(p->proto) == d->proto)
			return SOCKLB_READ_ONCE(p->service_id);
	}
	if (refs <= SOCKLB_PORTS_INLINE)
		return 0;
	struct socklb_service_ref *ref = lb_lookup_ref(d);

	return ref ? SOCKLB_READ_ONCE(ref->id) : 0;
}

/*
 * Copies the service entry of d. `addr` is d's entry in addrs, or NULL to look
 * it up again. The id it yields may come from an element the kernel reused for
 * another key while we held it; the state entry carries its key, so an id that
 * is not ours is seen as such and read again.
 */
SOCKLB_INLINE enum lb_read lb_read_service(const struct lb_dest *d, struct socklb_addr_value *addr,
					   struct lb_service *svc)
{
	if (!addr)
		addr = lb_lookup_addr(d);
	if (!addr || SOCKLB_READ_ONCE(addr->kind) != SOCKLB_ADDR_VIP)
		return LB_READ_AGAIN;
	__u32 id = lb_service_id(d, addr);

	if (!id)
		return LB_READ_NO_PORT;
	struct socklb_service_state *st = bpf_map_lookup_elem(&service_state, &id);

	if (!st)
		return LB_READ_AGAIN;
	if (SOCKLB_READ_ONCE(st->port) != d->port || SOCKLB_READ_ONCE(st->proto) != d->proto ||
	    SOCKLB_READ_ONCE(st->vip[0]) != d->addr[0] || SOCKLB_READ_ONCE(st->vip[1]) != d->addr[1] ||
	    SOCKLB_READ_ONCE(st->vip[2]) != d->addr[2] || SOCKLB_READ_ONCE(st->vip[3]) != d->addr[3])
		return LB_READ_AGAIN;
	svc->id = id;
	svc->count = SOCKLB_READ_ONCE(st->backend_count);
	svc->revision = SOCKLB_READ_ONCE(st->revision);
	svc->flags = SOCKLB_READ_ONCE(st->flags);
	svc->affinity_timeout_sec = SOCKLB_READ_ONCE(st->affinity_timeout_sec);
	return LB_READ_OK;
}

SOCKLB_INLINE void lb_copy_backend(struct lb_backend *out, __u32 id, const struct socklb_backend *b)
{
	out->id = id;
	out->service_id = b->service_id;
	out->addr[0] = b->addr[0];
	out->addr[1] = b->addr[1];
	out->addr[2] = b->addr[2];
	out->addr[3] = b->addr[3];
	out->port = b->port;
	out->state = b->state;
	out->flags = b->flags;
}

/*
 * A backend named by a slot of a service's live set, read without the lock:
 * such an entry was complete before its slot was written and is not rewritten
 * while the set is live (only its state byte and flags may change, each one
 * byte). Returns 0 when it is not a backend of the service.
 */
SOCKLB_INLINE int lb_read_slot_backend(__u32 id, __u32 service_id, struct lb_backend *out)
{
	struct socklb_backend *b = bpf_map_lookup_elem(&backends, &id);

	if (!b)
		return 0;
	out->id = id;
	out->service_id = SOCKLB_READ_ONCE(b->service_id);
	out->addr[0] = SOCKLB_READ_ONCE(b->addr[0]);
	out->addr[1] = SOCKLB_READ_ONCE(b->addr[1]);
	out->addr[2] = SOCKLB_READ_ONCE(b->addr[2]);
	out->addr[3] = SOCKLB_READ_ONCE(b->addr[3]);
	out->port = SOCKLB_READ_ONCE(b->port);
	out->state = SOCKLB_READ_ONCE(b->state);
	out->flags = SOCKLB_READ_ONCE(b->flags);
	return out->service_id == service_id;
}

/*
 * A backend named by a reference that may be stale or torn (an affinity entry
 * the kernel can reuse, a socket's earlier choice): read under the entry's
 * lock, which the agent's writes take too, so the copy is one whole entry.
 * Returns 0 when it is not a backend of the service any more.
 */
SOCKLB_INLINE int lb_read_held_backend(__u32 id, __u32 service_id, struct lb_backend *out)
{
	struct socklb_backend *b = bpf_map_lookup_elem(&backends, &id);

	if (!b)
		return 0;
	bpf_spin_lock(&b->lock);
	lb_copy_backend(out, id, b);
	bpf_spin_unlock(&b->lock);
	return out->service_id == service_id;
}

SOCKLB_INLINE int lb_usable_for_new_flows(const struct lb_backend *b)
{
	return b->state == SOCKLB_BACKEND_ACTIVE || b->state == SOCKLB_BACKEND_TERMINATING;
}

enum lb_slot {
	LB_SLOT_OK,
	LB_SLOT_GONE, /* the set changed since the service was read: read it again */
};

/*
 * The backend in slot `index` of the service's live set: from its state entry
 * when the set fits there, else from the slots map. An inline id is rewritten
 * in place by an update; whichever set (old, new, or a mix) this reads, every
 * id in it names a backend of the service until the agent's wait for readers,
 * and a torn id fails the backend's check.
 */
SOCKLB_INLINE enum lb_slot lb_slot(const struct lb_service *svc, __u32 index, struct lb_backend *out)
{
	__u32 backend_id;

	if (svc->count <= SOCKLB_BACKENDS_INLINE) {
		__u32 id = svc->id;
		struct socklb_service_state *st = bpf_map_lookup_elem(&service_state, &id);

		if (!st)
			return LB_SLOT_GONE;
		backend_id = SOCKLB_READ_ONCE(st->backend_ids[index & (SOCKLB_BACKENDS_INLINE - 1)]);
	} else {
		struct socklb_slot_key key = { .service_id = svc->id, .index = index, .revision = svc->revision };
		struct socklb_slot_value *slot = bpf_map_lookup_elem(&slots, &key);

		if (!slot)
			return LB_SLOT_GONE;
		backend_id = SOCKLB_READ_ONCE(slot->backend_id);
	}
	return lb_read_slot_backend(backend_id, svc->id, out) ? LB_SLOT_OK : LB_SLOT_GONE;
}

/* sessionAffinity: ClientIP, keyed on the client's network namespace. */
SOCKLB_INLINE int lb_affine_backend(struct bpf_sock_addr *ctx, const struct lb_service *svc, __u64 now,
				    struct lb_backend *out)
{
	struct socklb_affinity_key key = { .netns_cookie = bpf_get_netns_cookie(ctx), .service_id = svc->id };
	struct socklb_affinity_value *held = bpf_map_lookup_elem(&affinity, &key);

	if (!held || !socklb_affinity_fresh(now, SOCKLB_READ_ONCE(held->last_used_ns), svc->affinity_timeout_sec))
		return 0;
	if (!lb_read_held_backend(SOCKLB_READ_ONCE(held->backend_id), svc->id, out) || !lb_usable_for_new_flows(out))
		return 0;
	held->last_used_ns = now; /* kube-proxy refreshes the timer on every connection */
	return 1;
}

/* Remembers the client's backend. An entry is written in place when there is
 * one (it never moves under another reader); a new one is added only when the
 * map has room: a full map costs new clients their affinity, never old ones. */
SOCKLB_INLINE void lb_remember_affinity(struct bpf_sock_addr *ctx, const struct lb_service *svc, __u64 now,
					__u32 backend_id)
{
	struct socklb_affinity_key key = { .netns_cookie = bpf_get_netns_cookie(ctx), .service_id = svc->id };
	struct socklb_affinity_value *held = bpf_map_lookup_elem(&affinity, &key);

	if (held) {
		held->backend_id = backend_id;
		held->last_used_ns = now;
		return;
	}
	struct socklb_affinity_value fresh = { .last_used_ns = now, .backend_id = backend_id };

	bpf_map_update_elem(&affinity, &key, &fresh, BPF_NOEXIST);
}
