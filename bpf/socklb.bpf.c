// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The socket-address hooks. connect and sendmsg translate a ClusterIP to a
 * backend before the kernel routes the socket; getpeername and recvmsg turn
 * the backend address back into the ClusterIP the application dialled;
 * sock_release drops what a socket kept outside its own storage.
 * Traffic to anything that is not a ClusterIP costs one hash lookup.
 */
#include "trace.h"

#define SOCKLB_ECONNREFUSED 111

/* Verdict of a sock_addr program: 1 lets the call proceed. 0 fails it with
 * EPERM unless a return value was set: we set ECONNREFUSED, what kube-proxy's
 * REJECT gives a client, so it fails fast instead of hanging. */
#define SOCKLB_ALLOW 1
#define SOCKLB_DENY 0

static __always_inline int refuse(void)
{
	bpf_set_retval(-SOCKLB_ECONNREFUSED);
	return SOCKLB_DENY;
}

static __always_inline int translate4(struct bpf_sock_addr *ctx, int hook)
{
	struct lb_dest d = { .port = (__be16)ctx->user_port, .proto = ctx->protocol, .is_v4 = 1 };
	struct lb_outcome o = {};

	socklb_map_v4(d.addr, ctx->user_ip4);
	enum lb_verdict verdict = lb_translate(ctx, &d, &o);

	if (verdict == LB_PASS)
		return SOCKLB_ALLOW;
	counters_add(hook, verdict, &o);
	if (trace_on()) {
		/* what the caller asked for: ctx is rewritten only below */
		struct lb_dest asked = { .port = (__be16)ctx->user_port, .proto = d.proto, .is_v4 = 1 };

		socklb_map_v4(asked.addr, ctx->user_ip4);
		trace_decision(ctx, trace_what(hook, verdict, 0), &asked, &d, &o);
	}
	if (verdict == LB_REFUSE)
		return refuse();
	ctx->user_ip4 = d.addr[3];
	ctx->user_port = d.port;
	return SOCKLB_ALLOW;
}

static __always_inline int translate6(struct bpf_sock_addr *ctx, int hook)
{
	struct lb_dest d = { .port = (__be16)ctx->user_port, .proto = ctx->protocol };
	struct lb_outcome o = {};

	/* ctx->user_ip6 only allows 32-bit accesses: copy word by word */
	d.addr[0] = ctx->user_ip6[0];
	d.addr[1] = ctx->user_ip6[1];
	d.addr[2] = ctx->user_ip6[2];
	d.addr[3] = ctx->user_ip6[3];
	d.is_v4 = socklb_is_v4_mapped(d.addr);
	enum lb_verdict verdict = lb_translate(ctx, &d, &o);

	if (verdict == LB_PASS)
		return SOCKLB_ALLOW;
	counters_add(hook, verdict, &o);
	if (trace_on()) {
		struct lb_dest asked = { .port = (__be16)ctx->user_port, .proto = d.proto, .is_v4 = d.is_v4 };

		asked.addr[0] = ctx->user_ip6[0];
		asked.addr[1] = ctx->user_ip6[1];
		asked.addr[2] = ctx->user_ip6[2];
		asked.addr[3] = ctx->user_ip6[3];
		trace_decision(ctx, trace_what(hook, verdict, SOCKLB_TRACE_IPV6), &asked, &d, &o);
	}
	if (verdict == LB_REFUSE)
		return refuse();
	ctx->user_ip6[0] = d.addr[0];
	ctx->user_ip6[1] = d.addr[1];
	ctx->user_ip6[2] = d.addr[2];
	ctx->user_ip6[3] = d.addr[3];
	ctx->user_port = d.port;
	return SOCKLB_ALLOW;
}

static __always_inline int reverse4(struct bpf_sock_addr *ctx)
{
	__be32 peer[4];
	__be16 port = (__be16)ctx->user_port;

	socklb_map_v4(peer, ctx->user_ip4);
	if (lb_reverse(ctx, peer, &port)) {
		ctx->user_ip4 = peer[3];
		ctx->user_port = port;
	}
	return SOCKLB_ALLOW;
}

static __always_inline int reverse6(struct bpf_sock_addr *ctx)
{
	__be32 peer[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	__be16 port = (__be16)ctx->user_port;

	if (lb_reverse(ctx, peer, &port)) {
		ctx->user_ip6[0] = peer[0];
		ctx->user_ip6[1] = peer[1];
		ctx->user_ip6[2] = peer[2];
		ctx->user_ip6[3] = peer[3];
		ctx->user_port = port;
	}
	return SOCKLB_ALLOW;
}

SEC("cgroup/connect4")
int socklb_connect4(struct bpf_sock_addr *ctx)
{
	return translate4(ctx, SOCKLB_HOOK_CONNECT);
}

SEC("cgroup/connect6")
int socklb_connect6(struct bpf_sock_addr *ctx)
{
	return translate6(ctx, SOCKLB_HOOK_CONNECT);
}

SEC("cgroup/sendmsg4")
int socklb_sendmsg4(struct bpf_sock_addr *ctx)
{
	return translate4(ctx, SOCKLB_HOOK_SENDMSG);
}

SEC("cgroup/sendmsg6")
int socklb_sendmsg6(struct bpf_sock_addr *ctx)
{
	return translate6(ctx, SOCKLB_HOOK_SENDMSG);
}

SEC("cgroup/recvmsg4")
int socklb_recvmsg4(struct bpf_sock_addr *ctx)
{
	return reverse4(ctx);
}

SEC("cgroup/recvmsg6")
int socklb_recvmsg6(struct bpf_sock_addr *ctx)
{
	return reverse6(ctx);
}

SEC("cgroup/getpeername4")
int socklb_getpeername4(struct bpf_sock_addr *ctx)
{
	return reverse4(ctx);
}

SEC("cgroup/getpeername6")
int socklb_getpeername6(struct bpf_sock_addr *ctx)
{
	return reverse6(ctx);
}

static long drop_flow(struct bpf_map *map, struct socklb_sock_flow_key *key, struct socklb_flow *flow, __u64 *cookie)
{
	if (key->cookie == *cookie)
		bpf_map_delete_elem(map, key);
	return 0;
}

static long drop_peer(struct bpf_map *map, struct socklb_sock_peer_key *key, struct socklb_sock_peer_value *value,
		      __u64 *cookie)
{
	if (key->cookie == *cookie)
		bpf_map_delete_elem(map, key);
	return 0;
}

/* A socket that talked to more ClusterIP:ports than its storage holds left
 * entries keyed by its cookie; nothing else refers to them. Such sockets are
 * rare (a scanner, a resolver with many servers), so a walk of the two maps on
 * their release is cheaper than an index kept for every socket. */
SEC("cgroup/sock_release")
int socklb_sock_release(struct bpf_sock *sk)
{
	struct socklb_sock_state *s = bpf_sk_storage_get(&sock_state, sk, 0, 0);

	if (!s || s->flow_count <= SOCKLB_FLOWS_INLINE)
		return SOCKLB_ALLOW;
	__u64 cookie = bpf_get_socket_cookie(sk);

	bpf_for_each_map_elem(&sock_flows, drop_flow, &cookie, 0);
	bpf_for_each_map_elem(&sock_peers, drop_peer, &cookie, 0);
	return SOCKLB_ALLOW;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
