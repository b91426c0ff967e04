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
 *
 * How a connect reads these maps without ever mixing two services, while the
 * agent rewrites them, is explained in docs/datapath.md ("Reading maps that
 * change underneath").
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/bpf.h> /* struct bpf_spin_lock */
#include <linux/types.h>
#endif

#define SOCKLB_PROTO_TCP 6
#define SOCKLB_PROTO_UDP 17

#define SOCKLB_FAMILY_V4 4
#define SOCKLB_FAMILY_V6 6

/* addrs_v4 / addrs_v6: is this destination ours at all? The only lookup that
 * traffic to anything else pays. A ClusterIP is translated; a pod address
 * that backs a ClusterIP is left alone, but the socket is marked as dialled
 * directly so getpeername() does not turn it into the ClusterIP. */
#define SOCKLB_ADDR_VIP 1
#define SOCKLB_ADDR_BACKEND 2

struct socklb_addr4_key {
	__be32 addr;
};

struct socklb_addr6_key {
	__be32 addr[4];
};

/* A ClusterIP's ports, so the common connect finds its service id in the
 * same lookup that told it the address is a ClusterIP. A ClusterIP with more
 * ports than fit here is looked up in services_v4/_v6. */
#define SOCKLB_PORTS_INLINE 4

struct socklb_addr_port {
	__be16 port;
	__u8 proto;
	__u8 pad;
	__u32 service_id;
};

struct socklb_addr_value {
	__u8 kind; /* SOCKLB_ADDR_* */
	__u8 pad[3];
	__u32 refs; /* VIP: service ports on it; backend: ClusterIP ports it backs */
	struct socklb_addr_port ports[SOCKLB_PORTS_INLINE]; /* VIP: the first ports (refs of them) */
};

/* services_v4 / services_v6: ClusterIP:port/protocol -> service id, for every
 * service. Written once when the service appears and never rewritten while it
 * exists: what changes lives in service_state[id]. */
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

struct socklb_service_ref {
	__u32 id;
};

/* service flags */
#define SOCKLB_SERVICE_AFFINITY (1u << 0) /* sessionAffinity: ClientIP */
#define SOCKLB_SERVICE_FALLBACK (1u << 1) /* no ready backend: slots hold serving+terminating ones */

/* A service with at most this many backends for new connects keeps their ids
 * in its state entry; a larger one in the slots map. */
#define SOCKLB_BACKENDS_INLINE 8

/*
 * service_state (array, indexed by service id). The backends new connects
 * use are backend_ids[0..backend_count-1] when they fit here; otherwise they
 * live in the slots map as two slot sets, revision 0 and 1: an update fills
 * the set not in use, then flips `revision` and `backend_count` here. The entry
 * carries a copy of its key: a connect uses an entry only if it is the one of
 * the ClusterIP:port it dials. An entry of all zeros is free (port 0 is never
 * a service port).
 */
struct socklb_service_state {
	__be32 vip[4]; /* the key this id belongs to */
	__be16 port;
	__u8 proto;
	__u8 flags; /* SOCKLB_SERVICE_* */
	__u16 backend_count;
	__u8 revision;
	__u8 pad;
	__u32 affinity_timeout_sec;
	__u32 id; /* its own index, so a dump reads on its own */
	__u32 backend_ids[SOCKLB_BACKENDS_INLINE]; /* when backend_count <= SOCKLB_BACKENDS_INLINE */
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

/* backend states */
#define SOCKLB_BACKEND_ACTIVE 1      /* ready: in the slots */
#define SOCKLB_BACKEND_TERMINATING 2 /* serving and terminating; in the slots only when no backend is ready */
#define SOCKLB_BACKEND_SERVING 3     /* serving, not for new connects (terminating while others are ready,
				      * or left out by topology or internalTrafficPolicy): flows that use it keep it */

/* backend flags */
#define SOCKLB_BACKEND_SHARED (1u << 0) /* another ClusterIP:port uses this address:port too: the reverse
					 * map cannot say which one a socket dialled, so connect() keeps it */

/*
 * backends (array, indexed by backend id): where to connect. An entry belongs
 * to one service; a reference held from before (an affinity entry, a socket's
 * earlier choice) is valid exactly while the entry still names that service
 * and address. The agent writes entries with BPF_F_LOCK; a connect reads under
 * the lock when the id came from somewhere that may be stale. All zeros: free.
 */
struct socklb_backend {
	struct bpf_spin_lock lock;
	__u32 service_id;
	__be32 addr[4];
	__be16 port;
	__u8 family; /* SOCKLB_FAMILY_* */
	__u8 state;  /* SOCKLB_BACKEND_* */
	__u8 flags;  /* SOCKLB_BACKEND_* flags */
	__u8 pad[3];
};

/* reverse (hash): pod address:port/protocol -> the one ClusterIP:port it
 * serves. getpeername() of a TCP socket answers from here, so connect() writes
 * no per-socket state in the common case. Only addresses that serve exactly
 * one ClusterIP:port have an entry (see SOCKLB_BACKEND_SHARED). */
struct socklb_reverse_key {
	__be32 addr[4];
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct socklb_reverse_value {
	__be32 vip[4];
	__be16 vip_port;
	__u8 pad[2];
};

/* affinity (hash): (client netns cookie, service id) -> the backend it uses.
 * At connect() time the source address is unknown; the network namespace is
 * the client pod. Not an LRU: a client's entry is never evicted by other
 * clients; the agent removes entries whose timeout passed. */
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

/*
 * Per-socket state, only where the maps alone cannot answer: UDP sockets (a
 * flow keeps its pod; replies must come from the ClusterIP they were sent to),
 * TCP sockets to a SHARED backend, and sockets that dialled a pod directly.
 * A flow is one ClusterIP:port this socket talks to and the pod it got.
 */
struct socklb_flow {
	__be32 vip[4];
	__be32 backend[4];
	__be16 vip_port;
	__be16 backend_port;
	__u32 backend_id;
	__u32 service_id;
	__u32 pad;
};

#define SOCKLB_FLOWS_INLINE 4 /* in the socket's storage; more go to sock_flows/sock_peers */

#define SOCKLB_SOCK_DIRECT (1u << 0) /* dialled a pod address itself: never shown as a ClusterIP */

/* sock_state (socket storage): freed with the socket. */
struct socklb_sock_state {
	__u32 flags;      /* SOCKLB_SOCK_* */
	__u32 flow_count; /* flows[] holds min(flow_count, SOCKLB_FLOWS_INLINE); the rest overflowed */
	struct socklb_flow flows[SOCKLB_FLOWS_INLINE];
};

/* sock_flows (hash): the flows of sockets that talk to more than
 * SOCKLB_FLOWS_INLINE ClusterIP:ports, keyed by socket cookie and ClusterIP:port;
 * sock_peers answers the reverse question for them. A socket's entries are
 * removed when it is released. */
struct socklb_sock_flow_key {
	__u64 cookie;
	__be32 vip[4];
	__be16 vip_port;
	__u8 pad[6];
};

struct socklb_sock_peer_key {
	__u64 cookie;
	__be32 backend[4];
	__be16 backend_port;
	__u8 pad[6];
};

struct socklb_sock_peer_value {
	__be32 vip[4];
	__be16 vip_port;
	__u8 pad[2];
};

/*
 * service_counters (per-CPU array, indexed by service id, as service_state)
 * and totals (per-CPU array, one entry): what the programs decided, counted
 * where they decide it. Each CPU adds to its own copy with a plain increment
 * (no atomics); a reader sums the copies. Per service: its ClusterIP:port's
 * decisions. The totals count every decision, also those of services since
 * removed (so they only grow) and the refusals no service can be named for.
 * The agent zeroes a service's entry when it hands the id out (after the id's
 * quarantine, so nothing still counts for its previous owner).
 */
struct socklb_service_counters {
	__u64 connects;           /* connect() translated (TCP, and UDP sockets that connect) */
	__u64 udp_sends;          /* unconnected UDP sendmsg() translated */
	__u64 refused_no_backend; /* connect() or sendmsg() refused: no backend new connects may use */
};

struct socklb_totals {
	__u64 connects;
	__u64 udp_sends;
	__u64 refused_no_backend;
	__u64 refused_no_port; /* a ClusterIP that has no such port/protocol: no service to count it for */
	__u64 trace_drops;     /* trace events lost because trace_events was full */
};

/*
 * Tracing (`socklb trace`). trace_ctl (array, one entry): a nonzero
 * tracer_pid turns the trace on; it is the pid of the `socklb trace` that
 * reads trace_events (a ring buffer). With it off a decision costs the
 * programs one lookup of this entry. Who clears a flag a killed tracer left
 * on is in docs/datapath.md ("Tracing").
 */
struct socklb_trace_ctl {
	__u32 tracer_pid;
	__u32 pad;
};

/* which hook decided */
#define SOCKLB_HOOK_CONNECT 1 /* connect4/6 */
#define SOCKLB_HOOK_SENDMSG 2 /* sendmsg4/6: an unconnected UDP send */

/* what it decided */
#define SOCKLB_VERDICT_TRANSLATED 1
#define SOCKLB_VERDICT_REFUSED 2

/* why a connect was refused */
#define SOCKLB_REASON_NO_BACKEND 1 /* no backend new connects may use */
#define SOCKLB_REASON_NO_PORT 2    /* the ClusterIP has no such port/protocol */

/* trace event flags */
#define SOCKLB_TRACE_AFFINITY (1u << 0) /* the backend is the client's, from its affinity entry */
#define SOCKLB_TRACE_HELD (1u << 1)     /* a UDP socket's flow kept the backend it had */
#define SOCKLB_TRACE_IPV6 (1u << 2)     /* an IPv6 socket (connect6/sendmsg6); its address may be v4-mapped */

/* One decision, as the programs write it to trace_events. */
struct socklb_trace_event {
	__u64 time_ns;       /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 netns_cookie;  /* the client's network namespace (the affinity key) */
	__u64 socket_cookie;
	__u32 pid;           /* the process (thread group) that called */
	__u32 service_id;    /* 0 for a refusal with no such port */
	__u32 backend_id;    /* 0 unless translated */
	__be32 vip[4];       /* the ClusterIP dialled (v4-mapped for IPv4) */
	__be32 backend[4];   /* the backend chosen (translated only) */
	__be16 vip_port;
	__be16 backend_port;
	__u8 proto;          /* SOCKLB_PROTO_* */
	__u8 hook;           /* SOCKLB_HOOK_* */
	__u8 verdict;        /* SOCKLB_VERDICT_* */
	__u8 reason;         /* SOCKLB_REASON_* of a refusal; 0 otherwise */
	__u8 flags;          /* SOCKLB_TRACE_* */
	__u8 pad[3];
	char comm[16];       /* the calling thread's name */
};

/* trace_events' size in bytes: about 10,000 events (104 bytes each with the
 * ring buffer's header) before a tracer that does not keep up loses some. */
#define SOCKLB_TRACE_RING_BYTES (1u << 20)
/* The tracer reads the ring buffer this often without being woken, and is
 * woken when more than this is waiting (an eighth of it: about 1,250 events). */
#define SOCKLB_TRACE_POLL_MS 100
#define SOCKLB_TRACE_WAKEUP_BYTES (SOCKLB_TRACE_RING_BYTES / 8)

/*
 * What these structs mean beyond their types. The agent fingerprints the
 * layout of every pinned map from the BTF of the programs (kind, names,
 * sizes, offsets, array lengths, integer encodings, map types and flags:
 * kernel/layout_fingerprint.h), so any change to a struct above, even one
 * that keeps its size, makes the next agent migrate the pins rather than
 * adopt them. BTF cannot see a change of meaning that keeps the types (a
 * flag bit or a state value reused for something else): bump this then.
 * Nor can it see socklb_trace_event: a ring buffer has no value type, so its
 * fingerprint is its map type alone. Bump this for any change to that struct
 * or to the SOCKLB_HOOK_/VERDICT_/REASON_/TRACE_ values (a `socklb trace`
 * refuses pins of another layout than its own, so it never misreads events).
 */
#define SOCKLB_LAYOUT_REVISION 1

/*
 * layout (hash, pinned as `layout` beside the maps; userspace only): which
 * layout the pins beside it have. Key "" holds the fingerprint of the whole
 * set of maps (with SOCKLB_LAYOUT_REVISION); key <map name> that map's own.
 * Written by the agent that created the maps (or migrated them), with its
 * version. Pins without it were made by a socklb from before this record.
 *
 * FROZEN: every socklb version, older and newer, reads this record to decide
 * whether it may adopt the pins or must migrate them. Its map type, key and
 * value never change; a new kind of information goes in under a new key.
 */
#define SOCKLB_LAYOUT_NAME_LEN 32
#define SOCKLB_LAYOUT_VERSION_LEN 56
#define SOCKLB_LAYOUT_ENTRIES 64

struct socklb_layout_key {
	char name[SOCKLB_LAYOUT_NAME_LEN]; /* a map's pin name, or "" for the whole set */
};

struct socklb_layout_value {
	__u64 fingerprint;
	char version[SOCKLB_LAYOUT_VERSION_LEN]; /* the socklb that wrote it, NUL-terminated */
};

#ifdef __cplusplus
#define SOCKLB_ASSERT_SIZE(type, size) static_assert(sizeof(struct type) == (size), #type " has padding")
#else
#define SOCKLB_ASSERT_SIZE(type, size) _Static_assert(sizeof(struct type) == (size), #type " has padding")
#endif

SOCKLB_ASSERT_SIZE(socklb_addr4_key, 4);
SOCKLB_ASSERT_SIZE(socklb_addr6_key, 16);
SOCKLB_ASSERT_SIZE(socklb_addr_port, 8);
SOCKLB_ASSERT_SIZE(socklb_addr_value, 40);
SOCKLB_ASSERT_SIZE(socklb_service4_key, 8);
SOCKLB_ASSERT_SIZE(socklb_service6_key, 20);
SOCKLB_ASSERT_SIZE(socklb_service_ref, 4);
SOCKLB_ASSERT_SIZE(socklb_service_state, 64);
SOCKLB_ASSERT_SIZE(socklb_slot_key, 8);
SOCKLB_ASSERT_SIZE(socklb_slot_value, 4);
SOCKLB_ASSERT_SIZE(socklb_backend, 32);
SOCKLB_ASSERT_SIZE(socklb_reverse_key, 20);
SOCKLB_ASSERT_SIZE(socklb_reverse_value, 20);
SOCKLB_ASSERT_SIZE(socklb_affinity_key, 16);
SOCKLB_ASSERT_SIZE(socklb_affinity_value, 16);
SOCKLB_ASSERT_SIZE(socklb_service_name, 192);
SOCKLB_ASSERT_SIZE(socklb_flow, 48);
SOCKLB_ASSERT_SIZE(socklb_sock_state, 200);
SOCKLB_ASSERT_SIZE(socklb_sock_flow_key, 32);
SOCKLB_ASSERT_SIZE(socklb_sock_peer_key, 32);
SOCKLB_ASSERT_SIZE(socklb_sock_peer_value, 20);
SOCKLB_ASSERT_SIZE(socklb_service_counters, 24);
SOCKLB_ASSERT_SIZE(socklb_totals, 40);
SOCKLB_ASSERT_SIZE(socklb_trace_ctl, 8);
SOCKLB_ASSERT_SIZE(socklb_trace_event, 96);
SOCKLB_ASSERT_SIZE(socklb_layout_key, 32);
SOCKLB_ASSERT_SIZE(socklb_layout_value, 64);
