/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one definition of every BPF map key and value, compiled by both the
 * BPF programs (bpf/) and the agent (userspace/). Plain C, fixed-width types.
 *
 * Every struct is padding-free (explicit pad fields, sizes asserted below):
 * implicit padding is not zeroed by the compiler and turns into random hash
 * lookup misses.
 *
 * Addresses are stored in network byte order as four 32-bit words; an IPv4
 * address is stored in its IPv4-mapped IPv6 form (::ffff:a.b.c.d, the IPv4
 * address in word 3) wherever a struct holds either family, so the v4, v6 and
 * v4-mapped paths share one representation.
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* A map whose key or value changes shape gets a new pin name (a _v2 suffix),
 * so an upgraded agent never reads an old layout. */

#define SOCKLB_PROTO_TCP 6
#define SOCKLB_PROTO_UDP 17

/* service flags */
#define SOCKLB_SERVICE_AFFINITY (1u << 0) /* sessionAffinity: ClientIP */
#define SOCKLB_SERVICE_FALLBACK (1u << 1) /* no ready backend: slots hold serving+terminating ones */

/* backend states */
#define SOCKLB_BACKEND_ACTIVE 1      /* ready */
#define SOCKLB_BACKEND_TERMINATING 2 /* serving and terminating, used as fallback */

#define SOCKLB_FAMILY_V4 4
#define SOCKLB_FAMILY_V6 6

/* How many VIP translations one socket remembers (unconnected UDP may talk to
 * several services; a connected socket uses one). */
#define SOCKLB_XLATE_PER_SOCKET 4

/* vips_v4 / vips_v6: is this address a ClusterIP at all? The only lookup that
 * traffic to anything else pays. */
struct socklb_vip4_key {
	__be32 addr;
};

struct socklb_vip6_key {
	__be32 addr[4];
};

struct socklb_vip_value {
	__u32 port_count; /* service ports defined on this ClusterIP */
};

/* services_v4 / services_v6: ClusterIP:port/protocol -> the service entry. */
struct socklb_service4_key {
	__be32 vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct socklb_service6_key {
	__be32 vip[4];
	__be16 port;
	__u8 proto;
	__u8 pad;
};

/*
 * The backends of a service live in two slot sets, revision 0 and 1. An update
 * fills the set not in use, then flips `revision` and `backend_count` in this
 * one value, so a connect sees the old set or the new set, never a mix.
 */
struct socklb_service_value {
	__u32 id; /* stable per ClusterIP:port/protocol; keys slots and affinity */
	__u16 backend_count;
	__u8 revision;
	__u8 flags; /* SOCKLB_SERVICE_* */
	__u32 affinity_timeout_sec;
	__u32 pad;
};

/* slots: (service id, revision, index) -> backend id. */
struct socklb_slot_key {
	__u32 service_id;
	__u16 index;
	__u8 revision;
	__u8 pad;
};

struct socklb_slot_value {
	__u32 backend_id;
};

/* backends: backend id -> where to connect. A backend entry belongs to one
 * service, so an affinity entry is valid exactly while its backend's
 * service_id still matches: no second map of (backend, service) pairs. */
struct socklb_backend {
	__be32 addr[4];
	__be16 port;
	__u8 family; /* SOCKLB_FAMILY_* */
	__u8 state;  /* SOCKLB_BACKEND_* */
	__u32 service_id;
};

/* affinity (LRU): (client netns cookie, service id) -> the backend it uses.
 * At connect() time the source address is unknown; the network namespace is
 * the client pod. */
struct socklb_affinity_key {
	__u64 netns_cookie;
	__u32 service_id;
	__u32 pad;
};

struct socklb_affinity_value {
	__u64 last_used_ns; /* bpf_ktime_get_ns() of the last connect */
	__u32 backend_id;
	__u32 pad;
};

/* service_names: service id -> the Kubernetes object it came from. Read only by
 * userspace (`socklb services`), so the kernel stays the source of truth. */
#define SOCKLB_NAME_LEN 64
#define SOCKLB_PORT_NAME_LEN 64

struct socklb_service_name {
	char ns[SOCKLB_NAME_LEN];
	char name[SOCKLB_NAME_LEN];
	char port_name[SOCKLB_PORT_NAME_LEN];
};

/* sock_xlate (socket storage): what this socket's VIPs were translated to, so
 * getpeername() and recvmsg() can show the VIP, and an unconnected UDP socket
 * keeps its backend across sendmsg() calls. Freed with the socket. */
struct socklb_xlate_entry {
	__be32 vip[4];
	__be32 backend[4];
	__be16 vip_port;
	__be16 backend_port;
	__u32 backend_id; /* 0: unused entry */
};

struct socklb_sock_xlate {
	struct socklb_xlate_entry entries[SOCKLB_XLATE_PER_SOCKET];
	__u32 next; /* entry to overwrite when all are in use */
	__u32 pad;
};

#ifdef __cplusplus
#define SOCKLB_ASSERT_SIZE(type, size) static_assert(sizeof(struct type) == (size), #type " has padding")
#else
#define SOCKLB_ASSERT_SIZE(type, size) _Static_assert(sizeof(struct type) == (size), #type " has padding")
#endif

SOCKLB_ASSERT_SIZE(socklb_vip4_key, 4);
SOCKLB_ASSERT_SIZE(socklb_vip6_key, 16);
SOCKLB_ASSERT_SIZE(socklb_vip_value, 4);
SOCKLB_ASSERT_SIZE(socklb_service4_key, 8);
SOCKLB_ASSERT_SIZE(socklb_service6_key, 20);
SOCKLB_ASSERT_SIZE(socklb_service_value, 16);
SOCKLB_ASSERT_SIZE(socklb_slot_key, 8);
SOCKLB_ASSERT_SIZE(socklb_slot_value, 4);
SOCKLB_ASSERT_SIZE(socklb_backend, 24);
SOCKLB_ASSERT_SIZE(socklb_affinity_key, 16);
SOCKLB_ASSERT_SIZE(socklb_affinity_value, 16);
SOCKLB_ASSERT_SIZE(socklb_service_name, 192);
SOCKLB_ASSERT_SIZE(socklb_xlate_entry, 40);
SOCKLB_ASSERT_SIZE(socklb_sock_xlate, 168);
