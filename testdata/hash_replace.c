/* What a program sees through a value pointer while the element is
 * replaced: a preallocated kernel hash map keeps the displaced element as
 * its per-CPU spare (extra_elems), so the first replace leaves the held
 * value alone and the second writes into it. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

static __always_inline void rec(__u32 i, __u64 v)
{
	bpf_map_update_elem(&seen, &i, &v, BPF_ANY);
}

SEC("xdp")
int hash_replace(struct xdp_md *ctx)
{
	__u32 k = 1;
	__u64 v = 100;
	bpf_map_update_elem(&h, &k, &v, BPF_ANY);
	__u64 *p = bpf_map_lookup_elem(&h, &k);
	if (!p)
		return XDP_ABORTED;
	rec(0, *p);
	v = 200;
	rec(1, bpf_map_update_elem(&h, &k, &v, BPF_EXIST));
	rec(2, *p);
	v = 300;
	rec(3, bpf_map_update_elem(&h, &k, &v, BPF_ANY));
	rec(4, *p);
	__u64 *q = bpf_map_lookup_elem(&h, &k);
	rec(5, q ? *q : 1);
	return XDP_PASS;
}
