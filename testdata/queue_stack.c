/* Pushes packet lengths to a queue and a stack and pops them back. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);
} q SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__type(value, __u32);
} s SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __s64);
} out SEC(".maps");

static __always_inline void rec(__u32 i, __s64 v)
{
	bpf_map_update_elem(&out, &i, &v, BPF_ANY);
}

SEC("xdp")
int queue_stack(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	rec(0, bpf_map_push_elem(&q, &len, 0));
	rec(1, bpf_map_push_elem(&s, &len, 0));
	__u32 v = len + 1;
	rec(2, bpf_map_push_elem(&q, &v, BPF_EXIST));
	__u32 got = 0;
	rec(3, bpf_map_peek_elem(&s, &got));
	rec(4, got);
	rec(5, bpf_map_pop_elem(&q, &got));
	rec(6, got);
	return XDP_PASS;
}
