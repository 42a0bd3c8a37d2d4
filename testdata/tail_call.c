/* A program array initialised statically: the entry tail-calls slot 1,
 * which tail-calls slot 2; slot 0 is empty so the first call falls
 * through. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} trail SEC(".maps");

static __always_inline void mark(__u32 bit)
{
	__u32 k = 0;
	__u32 *v = bpf_map_lookup_elem(&trail, &k);
	if (v)
		*v |= bit;
}

int tc_second(struct xdp_md *ctx);
int tc_third(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 3);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = {
		[1] = (void *)&tc_second,
		[2] = (void *)&tc_third,
	},
};

SEC("xdp")
int tc_third(struct xdp_md *ctx)
{
	mark(4);
	return XDP_TX;
}

SEC("xdp")
int tc_second(struct xdp_md *ctx)
{
	mark(2);
	bpf_tail_call(ctx, &jumps, 2);
	return XDP_DROP;
}

SEC("xdp")
int tail_entry(struct xdp_md *ctx)
{
	mark(1);
	bpf_tail_call(ctx, &jumps, 0);
	mark(8);
	bpf_tail_call(ctx, &jumps, 1);
	return XDP_ABORTED;
}
