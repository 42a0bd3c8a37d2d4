/* Array-of-maps and hash-of-maps lookups, statically initialised. */
#include "common.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer_arr SEC(".maps") = {
	.values = { [0] = &inner_a, [1] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps") = {
	.values = { [3] = &inner_b },
};

SEC("xdp")
int map_in_map(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 which = len & 1, k = len & 3;
	void *in = bpf_map_lookup_elem(&outer_arr, &which);
	if (!in)
		return XDP_ABORTED;
	__u64 *v = bpf_map_lookup_elem(in, &k);
	if (v)
		*v += len;
	__u32 hk = 3;
	void *hb = bpf_map_lookup_elem(&outer_hash, &hk);
	if (!hb)
		return XDP_ABORTED;
	__u32 z = 0;
	__u64 *w = bpf_map_lookup_elem(hb, &z);
	if (w)
		*w += 1;
	hk = 2;
	return bpf_map_lookup_elem(&outer_hash, &hk) == 0 ? XDP_PASS : XDP_DROP;
}
