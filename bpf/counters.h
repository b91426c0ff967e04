/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the programs decided, counted per service and in total
 * (socklb_maps.h: service_counters, totals). Per-CPU entries with plain
 * increments: a program runs on one CPU from start to end (migration is
 * disabled), so only another task preempting this one between the load and
 * the store of the same counter, on the same CPU, could lose a count. That is
 * possible on a preemptible kernel and accepted: no count is ever made up,
 * and an atomic add on every connect is what this design avoids.
 */
#pragma once

#include "translate.h"

SOCKLB_INLINE void counters_add(int hook, enum lb_verdict verdict, const struct lb_outcome *o)
{
	__u32 zero = 0, id = o->service_id;
	struct socklb_totals *t = bpf_map_lookup_elem(&totals, &zero);
	/* id 0 names no service: a refusal for a port the ClusterIP lacks */
	struct socklb_service_counters *s = id ? bpf_map_lookup_elem(&service_counters, &id) : NULL;

	if (verdict == LB_TRANSLATED) {
		if (hook == SOCKLB_HOOK_CONNECT) {
			if (t)
				t->connects++;
			if (s)
				s->connects++;
		} else {
			if (t)
				t->udp_sends++;
			if (s)
				s->udp_sends++;
		}
	} else if (o->reason == SOCKLB_REASON_NO_PORT) {
		if (t)
			t->refused_no_port++;
	} else {
		if (t)
			t->refused_no_backend++;
		if (s)
			s->refused_no_backend++;
	}
}
