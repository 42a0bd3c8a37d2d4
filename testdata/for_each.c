/* bpf_for_each_map_elem over a hash map: sums values and deletes odd
 * keys. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} vals SEC(".maps");

struct cb_ctx {
	__u64 sum;
	__u32 visited;
};

static long visit(void *map, __u32 *key, __u64 *val, struct cb_ctx *c)
{
	c->sum += *val;
	c->visited++;
	*val += 1;
	return 0;
}

SEC("xdp")
int for_each(struct xdp_md *ctx)
{
	__u32 k;
	__u64 v;
	k = 1; v = 100; bpf_map_update_elem(&vals, &k, &v, BPF_NOEXIST);
	k = 2; v = 200; bpf_map_update_elem(&vals, &k, &v, BPF_NOEXIST);
	k = 3; v = 300; bpf_map_update_elem(&vals, &k, &v, BPF_NOEXIST);
	k = 5; v = 500; bpf_map_update_elem(&vals, &k, &v, BPF_NOEXIST);
	struct cb_ctx c = {};
	long n = bpf_for_each_map_elem(&vals, visit, &c, 0);
	return (c.sum + n * 10000 + c.visited) & 0xffffff;
}
