// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The socket-address hooks. connect and sendmsg translate a ClusterIP to a
 * backend before the kernel routes the socket; getpeername and recvmsg turn
 * the backend address back into the ClusterIP the application dialled.
 * Traffic to anything that is not a ClusterIP costs one hash lookup.
 */
#include "sock_xlate.h"

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

static __always_inline int translate4(struct bpf_sock_addr *ctx)
{
	struct lb_dest d = { .port = (__be16)ctx->user_port, .proto = ctx->protocol, .is_v4 = 1 };

	socklb_map_v4(d.addr, ctx->user_ip4);
	switch (lb_translate(ctx, &d)) {
	case LB_TRANSLATED:
		ctx->user_ip4 = d.addr[3];
		ctx->user_port = d.port;
		return SOCKLB_ALLOW;
	case LB_REFUSE:
		return refuse();
	default:
		return SOCKLB_ALLOW;
	}
}

static __always_inline int translate6(struct bpf_sock_addr *ctx)
{
	struct lb_dest d = { .port = (__be16)ctx->user_port, .proto = ctx->protocol };

	/* ctx->user_ip6 only allows 32-bit accesses: copy word by word */
	d.addr[0] = ctx->user_ip6[0];
	d.addr[1] = ctx->user_ip6[1];
	d.addr[2] = ctx->user_ip6[2];
	d.addr[3] = ctx->user_ip6[3];
	d.is_v4 = socklb_is_v4_mapped(d.addr);
	switch (lb_translate(ctx, &d)) {
	case LB_TRANSLATED:
		ctx->user_ip6[0] = d.addr[0];
		ctx->user_ip6[1] = d.addr[1];
		ctx->user_ip6[2] = d.addr[2];
		ctx->user_ip6[3] = d.addr[3];
		ctx->user_port = d.port;
		return SOCKLB_ALLOW;
	case LB_REFUSE:
		return refuse();
	default:
		return SOCKLB_ALLOW;
	}
}

static __always_inline int reverse4(struct bpf_sock_addr *ctx)
{
	__be32 peer[4];

	socklb_map_v4(peer, ctx->user_ip4);
	struct socklb_xlate_entry *e = lb_reverse(ctx, peer, (__be16)ctx->user_port);

	if (e) {
		ctx->user_ip4 = e->vip[3];
		ctx->user_port = e->vip_port;
	}
	return SOCKLB_ALLOW;
}

static __always_inline int reverse6(struct bpf_sock_addr *ctx)
{
	__be32 peer[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	struct socklb_xlate_entry *e = lb_reverse(ctx, peer, (__be16)ctx->user_port);

	if (e) {
		ctx->user_ip6[0] = e->vip[0];
		ctx->user_ip6[1] = e->vip[1];
		ctx->user_ip6[2] = e->vip[2];
		ctx->user_ip6[3] = e->vip[3];
		ctx->user_port = e->vip_port;
	}
	return SOCKLB_ALLOW;
}

SEC("cgroup/connect4")
int socklb_connect4(struct bpf_sock_addr *ctx)
{
	return translate4(ctx);
}

SEC("cgroup/connect6")
int socklb_connect6(struct bpf_sock_addr *ctx)
{
	return translate6(ctx);
}

SEC("cgroup/sendmsg4")
int socklb_sendmsg4(struct bpf_sock_addr *ctx)
{
	return translate4(ctx);
}

SEC("cgroup/sendmsg6")
int socklb_sendmsg6(struct bpf_sock_addr *ctx)
{
	return translate6(ctx);
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
