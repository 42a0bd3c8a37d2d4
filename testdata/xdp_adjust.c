/* Grows the headroom by 4 bytes, writes a tag there, trims 2 bytes of
 * tail and reserves 8 bytes of metadata. */
#include "common.h"

SEC("xdp")
int xdp_adjust(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_head(ctx, -4))
		return XDP_ABORTED;
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	if (data + 4 > data_end)
		return XDP_ABORTED;
	*(__u32 *)data = bpf_htonl(0xcafef00d);
	if (bpf_xdp_adjust_tail(ctx, -2))
		return XDP_ABORTED;
	if (bpf_xdp_adjust_meta(ctx, -8))
		return XDP_ABORTED;
	void *meta = (void *)(long)ctx->data_meta;
	data = (void *)(long)ctx->data;
	if (meta + 8 > data)
		return XDP_ABORTED;
	*(__u64 *)meta = 0x1122334455667788ULL;
	/* Invalid adjustments fail without effect. */
	if (bpf_xdp_adjust_head(ctx, 4000) == 0)
		return XDP_ABORTED;
	if (bpf_xdp_adjust_tail(ctx, 8000) == 0)
		return XDP_ABORTED;
	return XDP_PASS;
}
