// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reads socklb's two arrays back for the agent: every index exists, and most
 * are free. The batch lookup system call costs hundreds of nanoseconds per
 * index; these map iterators walk an array in the kernel and write out only
 * the entries in use (the index, then the value). The agent attaches each to
 * the pinned array it reads.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "socklb_maps.h"

SEC("iter/bpf_map_elem")
int socklb_read_service_state(struct bpf_iter__bpf_map_elem *ctx)
{
	__u32 *key = ctx->key;
	struct socklb_service_state *state = ctx->value;

	/* an entry in use has its key's port; a free one is all zeros */
	if (!key || !state || state->port == 0)
		return 0;
	bpf_seq_write(ctx->meta->seq, key, sizeof(*key));
	bpf_seq_write(ctx->meta->seq, state, sizeof(*state));
	return 0;
}

SEC("iter/bpf_map_elem")
int socklb_read_backends(struct bpf_iter__bpf_map_elem *ctx)
{
	__u32 *key = ctx->key;
	struct socklb_backend *b = ctx->value;

	/* service ids start at 1: 0 is a free entry */
	if (!key || !b || b->service_id == 0)
		return 0;
	/* the lock word is not readable here (nor of use): a copy without it */
	struct socklb_backend copy = {
		.service_id = b->service_id,
		.port = b->port,
		.family = b->family,
		.state = b->state,
		.flags = b->flags,
	};

	__builtin_memcpy(copy.addr, b->addr, sizeof(copy.addr));
	bpf_seq_write(ctx->meta->seq, key, sizeof(*key));
	bpf_seq_write(ctx->meta->seq, &copy, sizeof(copy));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
