/* bpf_xdp_load_bytes / bpf_xdp_store_bytes / bpf_xdp_get_buff_len. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __s64);
} res SEC(".maps");

static __always_inline void rec(__u32 i, __s64 v)
{
	bpf_map_update_elem(&res, &i, &v, BPF_ANY);
}

SEC("xdp")
int xdp_bytes(struct xdp_md *ctx)
{
	__u8 buf[8] = {};
	__u32 len = bpf_xdp_get_buff_len(ctx);
	rec(0, len);
	rec(1, bpf_xdp_load_bytes(ctx, 2, buf, 8));
	rec(2, *(__u64 *)buf);
	rec(3, bpf_xdp_load_bytes(ctx, len - 2, buf, 8));
	rec(4, bpf_xdp_store_bytes(ctx, 0, buf, 8));
	rec(5, bpf_xdp_store_bytes(ctx, len, buf, 1));
	return XDP_PASS;
}
