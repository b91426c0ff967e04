/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps. max_entries here are placeholders: the agent sets the real
 * capacities (its --max-* settings) before load. Hash maps are not
 * preallocated so memory follows use; the two arrays are indexed by ids the
 * agent hands out, and their entries are never freed or moved by the kernel,
 * which is what makes reading them while they change safe (docs/datapath.md).
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "socklb_maps.h"

#define SOCKLB_HASH(name, key_type, value_type)          \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_HASH);        \
		__type(key, key_type);                  \
		__type(value, value_type);              \
		__uint(max_entries, 65536);             \
		__uint(map_flags, BPF_F_NO_PREALLOC);   \
	} name SEC(".maps")

#define SOCKLB_ARRAY(name, value_type)                  \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY);       \
		__type(key, __u32);                     \
		__type(value, value_type);              \
		__uint(max_entries, 65536);             \
	} name SEC(".maps")

SOCKLB_HASH(addrs_v4, struct socklb_addr4_key, struct socklb_addr_value);
SOCKLB_HASH(addrs_v6, struct socklb_addr6_key, struct socklb_addr_value);
SOCKLB_HASH(services_v4, struct socklb_service4_key, struct socklb_service_ref);
SOCKLB_HASH(services_v6, struct socklb_service6_key, struct socklb_service_ref);
SOCKLB_ARRAY(service_state, struct socklb_service_state);
SOCKLB_HASH(slots, struct socklb_slot_key, struct socklb_slot_value);
SOCKLB_ARRAY(backends, struct socklb_backend);
SOCKLB_HASH(reverse, struct socklb_reverse_key, struct socklb_reverse_value);
SOCKLB_HASH(affinity, struct socklb_affinity_key, struct socklb_affinity_value);
SOCKLB_HASH(service_names, __u32, struct socklb_service_name);
SOCKLB_HASH(sock_flows, struct socklb_sock_flow_key, struct socklb_flow);
SOCKLB_HASH(sock_peers, struct socklb_sock_peer_key, struct socklb_sock_peer_value);

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__type(key, int);
	__type(value, struct socklb_sock_state);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sock_state SEC(".maps");

/* Counters: per-CPU, so a decision adds to its own CPU's copy without an
 * atomic operation. service_counters is indexed by service id (its capacity
 * is service_state's); totals has one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct socklb_service_counters);
	__uint(max_entries, 65536);
} service_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct socklb_totals);
	__uint(max_entries, 1);
} totals SEC(".maps");

/* `socklb trace`: the flag it sets while it runs, and the events it reads. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct socklb_trace_ctl);
	__uint(max_entries, 1);
} trace_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SOCKLB_TRACE_RING_BYTES);
} trace_events SEC(".maps");
