/* Exercises hash map update flags and deletes from a program, recording
 * every return code. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __s64);
} rc SEC(".maps");

static __always_inline void rec(__u32 i, __s64 v)
{
	bpf_map_update_elem(&rc, &i, &v, BPF_ANY);
}

SEC("xdp")
int hash_ops(struct xdp_md *ctx)
{
	__u64 v = 10;
	__u32 k;
	k = 1; rec(0, bpf_map_update_elem(&h, &k, &v, BPF_NOEXIST));
	k = 1; rec(1, bpf_map_update_elem(&h, &k, &v, BPF_NOEXIST));
	k = 2; rec(2, bpf_map_update_elem(&h, &k, &v, BPF_EXIST));
	k = 2; rec(3, bpf_map_update_elem(&h, &k, &v, BPF_ANY));
	k = 3; rec(4, bpf_map_update_elem(&h, &k, &v, BPF_ANY));
	k = 4; rec(5, bpf_map_update_elem(&h, &k, &v, BPF_ANY));
	v = 20;
	k = 3; rec(6, bpf_map_update_elem(&h, &k, &v, BPF_EXIST));
	k = 4; rec(7, bpf_map_delete_elem(&h, &k));
	k = 2; rec(8, bpf_map_delete_elem(&h, &k));
	k = 2; rec(9, bpf_map_update_elem(&h, &k, &v, 7));
	k = 1;
	__u64 *p = bpf_map_lookup_elem(&h, &k);
	if (p)
		*p += 5;
	k = 9;
	rec(10, bpf_map_lookup_elem(&h, &k) == 0);
	return XDP_PASS;
}
