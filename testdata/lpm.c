/* Routes by longest prefix match on the destination address. */
#include "common.h"

struct lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u32);
} routes SEC(".maps");

SEC("xdp")
int lpm(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = parse_ipv4(data, data_end);
	if (!ip)
		return 100;
	struct lpm_key k = { .prefixlen = 32, .addr = ip->daddr };
	__u32 *hop = bpf_map_lookup_elem(&routes, &k);
	if (!hop)
		return 101;
	/* Add a host route for the source, then look it up. */
	struct lpm_key sk = { .prefixlen = 32, .addr = ip->saddr };
	__u32 v = 77;
	bpf_map_update_elem(&routes, &sk, &v, BPF_ANY);
	__u32 *back = bpf_map_lookup_elem(&routes, &sk);
	return *hop + (back ? *back : 0);
}
