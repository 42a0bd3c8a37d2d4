/* bpf_loop with a callback, and a bounded loop over the packet. */
#include "common.h"

struct loop_ctx {
	__u64 sum;
	__u32 stop_at;
};

static long step(__u64 i, void *c)
{
	struct loop_ctx *lc = c;
	lc->sum += i * i;
	return i == lc->stop_at;
}

SEC("xdp")
int loops(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct loop_ctx lc = { .sum = 0, .stop_at = 1000 };
	if (data + 1 <= data_end)
		lc.stop_at = *(__u8 *)data;
	long n = bpf_loop(100, step, &lc, 0);
	long bad = bpf_loop(1, step, &lc, 1);
	return (lc.sum + n * 7 + (bad == -22)) & 0xffff;
}
