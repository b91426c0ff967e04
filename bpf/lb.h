/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service lookup and backend choice, shared by the connect and sendmsg hooks
 * of both families. A destination is carried in the v4-mapped representation
 * (see socklb_maps.h) so one code path serves IPv4, IPv6 and IPv4 clients on
 * IPv6 sockets.
 */
#pragma once

#include "maps.bpf.h"

#define SOCKLB_INLINE static __always_inline
#include "backend_select.h"

/* What the application asked for; rewritten in place on translation. */
struct lb_dest {
	__be32 addr[4];
	__be16 port;
	__u8 proto;
	__u8 is_v4;
};

/* A ClusterIP is picked up by one lookup; everything else leaves after it. */
SOCKLB_INLINE int lb_is_vip(const struct lb_dest *d)
{
	if (d->is_v4) {
		struct socklb_vip4_key key = { .addr = d->addr[3] };

		return bpf_map_lookup_elem(&vips_v4, &key) != NULL;
	}
	struct socklb_vip6_key key = {};

	__builtin_memcpy(key.addr, d->addr, sizeof(key.addr));
	return bpf_map_lookup_elem(&vips_v6, &key) != NULL;
}

SOCKLB_INLINE struct socklb_service_value *lb_lookup_service(const struct lb_dest *d)
{
	if (d->is_v4) {
		struct socklb_service4_key key = { .vip = d->addr[3], .port = d->port, .proto = d->proto };

		return bpf_map_lookup_elem(&services_v4, &key);
	}
	struct socklb_service6_key key = { .port = d->port, .proto = d->proto };

	__builtin_memcpy(key.vip, d->addr, sizeof(key.vip));
	return bpf_map_lookup_elem(&services_v6, &key);
}

/* A backend entry belongs to exactly one service; once it is deleted or the
 * id moved on, old references (affinity, a socket's earlier choice) fail here. */
SOCKLB_INLINE struct socklb_backend *lb_backend_of(__u32 backend_id, __u32 service_id)
{
	struct socklb_backend *backend = bpf_map_lookup_elem(&backends, &backend_id);

	if (backend && backend->service_id == service_id)
		return backend;
	return NULL;
}

/* Uniform random choice among the service's live slot set. */
SOCKLB_INLINE struct socklb_backend *lb_pick_random(const struct lb_dest *d, const struct socklb_service_value *svc,
						    __u32 *backend_id)
{
	/*
	 * The agent fills the unused slot set, flips the service's revision, then
	 * deletes the old set. A connect that read the service just before the
	 * flip may find its slot gone: reading the service again gives the new
	 * revision, whose slots were all written before the flip.
	 */
	for (int attempt = 0; attempt < 3; attempt++) {
		if (attempt) {
			svc = lb_lookup_service(d);
			if (!svc)
				return NULL;
		}
		__u32 count = svc->backend_count;
		__u32 id = svc->id;

		if (!count)
			return NULL;
		struct socklb_slot_key key = {
			.service_id = id,
			.index = socklb_slot_for_random(bpf_get_prandom_u32(), count),
			.revision = svc->revision,
		};
		struct socklb_slot_value *slot = bpf_map_lookup_elem(&slots, &key);

		if (!slot)
			continue;
		__u32 chosen = slot->backend_id;
		struct socklb_backend *backend = lb_backend_of(chosen, id);

		if (backend) {
			*backend_id = chosen;
			return backend;
		}
	}
	return NULL;
}

/* sessionAffinity: ClientIP, keyed on the client's network namespace. */
SOCKLB_INLINE struct socklb_backend *lb_pick_affine(struct bpf_sock_addr *ctx, const struct lb_dest *d,
						    const struct socklb_service_value *svc, __u32 *backend_id)
{
	struct socklb_affinity_key key = { .netns_cookie = bpf_get_netns_cookie(ctx), .service_id = svc->id };
	__u64 now = bpf_ktime_get_ns();
	struct socklb_affinity_value *held = bpf_map_lookup_elem(&affinity, &key);

	if (held && socklb_affinity_fresh(now, held->last_used_ns, svc->affinity_timeout_sec)) {
		__u32 chosen = held->backend_id;
		struct socklb_backend *backend = lb_backend_of(chosen, svc->id);

		if (backend) {
			held->last_used_ns = now;
			*backend_id = chosen;
			return backend;
		}
	}
	struct socklb_backend *backend = lb_pick_random(d, svc, backend_id);

	if (backend) {
		struct socklb_affinity_value fresh = { .last_used_ns = now, .backend_id = *backend_id };

		bpf_map_update_elem(&affinity, &key, &fresh, BPF_ANY);
	}
	return backend;
}

SOCKLB_INLINE struct socklb_backend *lb_pick(struct bpf_sock_addr *ctx, const struct lb_dest *d,
					     const struct socklb_service_value *svc, __u32 *backend_id)
{
	if (svc->flags & SOCKLB_SERVICE_AFFINITY)
		return lb_pick_affine(ctx, d, svc, backend_id);
	return lb_pick_random(d, svc, backend_id);
}
