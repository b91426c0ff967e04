/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Backend selection arithmetic with no BPF-only calls, so the unit tests
 * compile exactly what the programs run.
 */
#pragma once

#include "socklb_maps.h"

#ifndef SOCKLB_INLINE
#define SOCKLB_INLINE static inline
#endif

#define SOCKLB_NSEC_PER_SEC 1000000000ull

/* Uniform pick of a slot in [0, count) from a 32-bit random number: the
 * multiply-shift maps the random range onto count evenly (bias < count/2^32)
 * without a division in the hot path. */
SOCKLB_INLINE __u32 socklb_slot_for_random(__u32 random, __u32 count)
{
	return (__u32)(((__u64)random * count) >> 32);
}

/* kube-proxy refreshes the ClientIP timer on every new connection; an entry
 * is usable while less than timeout seconds passed since its last use. */
SOCKLB_INLINE int socklb_affinity_fresh(__u64 now_ns, __u64 last_used_ns, __u32 timeout_sec)
{
	if (now_ns < last_used_ns)
		return 1;
	return now_ns - last_used_ns < (__u64)timeout_sec * SOCKLB_NSEC_PER_SEC;
}

SOCKLB_INLINE int socklb_is_v4_mapped(const __be32 addr[4])
{
	/* ::ffff:0:0/96; the constant is byte-order independent except word 2 */
	const __u8 *b = (const __u8 *)&addr[2];

	return addr[0] == 0 && addr[1] == 0 && b[0] == 0 && b[1] == 0 && b[2] == 0xff && b[3] == 0xff;
}

SOCKLB_INLINE void socklb_map_v4(__be32 out[4], __be32 v4)
{
	__u8 *b = (__u8 *)&out[2];

	out[0] = 0;
	out[1] = 0;
	b[0] = 0;
	b[1] = 0;
	b[2] = 0xff;
	b[3] = 0xff;
	out[3] = v4;
}

SOCKLB_INLINE int socklb_addr_equal(const __be32 a[4], const __be32 b[4])
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}
