/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * `socklb trace`: while a tracer runs (trace_ctl), each decision is written to
 * the trace_events ring buffer. Without one a decision pays the lookup of the
 * flag (an array entry with a constant key, which the verifier turns into an
 * address) and one load. A full ring buffer costs an event, which is counted
 * (totals.trace_drops) so the tracer can say how many it lost.
 */
#pragma once

#include "counters.h"

SOCKLB_INLINE int trace_on(void)
{
	__u32 zero = 0;
	struct socklb_trace_ctl *ctl = bpf_map_lookup_elem(&trace_ctl, &zero);

	return ctl && SOCKLB_READ_ONCE(ctl->tracer_pid);
}

/* The scalar argument of trace_decision(). */
SOCKLB_INLINE __u32 trace_what(int hook, enum lb_verdict verdict, __u32 flags)
{
	__u32 v = verdict == LB_TRANSLATED ? SOCKLB_VERDICT_TRANSLATED : SOCKLB_VERDICT_REFUSED;

	return (__u32)hook | v << 8 | flags << 16;
}

/*
 * asked: the destination the application gave; to: where it goes now (the
 * backend, when translated). `what`: SOCKLB_HOOK_* | SOCKLB_VERDICT_* << 8 |
 * extra SOCKLB_TRACE_* flags << 16. A global function: verified once, and
 * out of the way of the common path.
 */
__noinline int trace_decision(struct bpf_sock_addr *ctx, __u32 what, const struct lb_dest *asked,
			      const struct lb_dest *to, const struct lb_outcome *o)
{
	if (!ctx || !asked || !to || !o)
		return 0;
	struct socklb_trace_event *e = bpf_ringbuf_reserve(&trace_events, sizeof(*e), 0);

	if (!e) {
		__u32 zero = 0;
		struct socklb_totals *t = bpf_map_lookup_elem(&totals, &zero);

		if (t)
			t->trace_drops++;
		return 0;
	}
	__u8 verdict = (what >> 8) & 0xff;

	/* ring buffer memory is not zeroed: every byte is written */
	e->time_ns = bpf_ktime_get_ns();
	e->netns_cookie = bpf_get_netns_cookie(ctx);
	e->socket_cookie = bpf_get_socket_cookie(ctx);
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->service_id = o->service_id;
	__builtin_memcpy(e->vip, asked->addr, sizeof(e->vip));
	e->vip_port = asked->port;
	if (verdict == SOCKLB_VERDICT_TRANSLATED) {
		e->backend_id = o->backend_id;
		__builtin_memcpy(e->backend, to->addr, sizeof(e->backend));
		e->backend_port = to->port;
	} else {
		e->backend_id = 0;
		__builtin_memset(e->backend, 0, sizeof(e->backend));
		e->backend_port = 0;
	}
	e->proto = asked->proto;
	e->hook = what & 0xff;
	e->verdict = verdict;
	e->reason = o->reason;
	e->flags = o->flags | ((what >> 16) & 0xff);
	e->pad[0] = 0;
	e->pad[1] = 0;
	e->pad[2] = 0;
	if (bpf_get_current_comm(e->comm, sizeof(e->comm)) != 0)
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	/* Waking the reader for an event is an interrupt sent to this CPU (on
	 * a virtual machine an exit to the host: it made a traced connect cost
	 * about 10 us here). The reader looks every SOCKLB_TRACE_POLL_MS anyway;
	 * only a ring buffer filling up wakes it earlier. */
	__u64 wake = bpf_ringbuf_query(&trace_events, BPF_RB_AVAIL_DATA) >= SOCKLB_TRACE_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
													: BPF_RB_NO_WAKEUP;

	bpf_ringbuf_submit(e, wake);
	return 0;
}
