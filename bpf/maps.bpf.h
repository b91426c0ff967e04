/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps. max_entries here are placeholders: the agent sets the real
 * capacities (its --max-* settings) before load. Hash maps are not
 * preallocated so memory follows the number of services, not the capacity.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "socklb_maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct socklb_vip4_key);
	__type(value, struct socklb_vip_value);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} vips_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct socklb_vip6_key);
	__type(value, struct socklb_vip_value);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} vips_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct socklb_service4_key);
	__type(value, struct socklb_service_value);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} services_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct socklb_service6_key);
	__type(value, struct socklb_service_value);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} services_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct socklb_slot_key);
	__type(value, struct socklb_slot_value);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct socklb_backend);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct socklb_affinity_key);
	__type(value, struct socklb_affinity_value);
	__uint(max_entries, 65536);
} affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct socklb_service_name);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} service_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__type(key, int);
	__type(value, struct socklb_sock_xlate);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sock_xlate SEC(".maps");
