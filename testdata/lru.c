/* An LRU hash keyed by source address, larger than it can hold. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} flows SEC(".maps");

SEC("xdp")
int lru(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = parse_ipv4(data, data_end);
	if (!ip)
		return XDP_PASS;
	__u32 k = ip->saddr;
	__u64 *n = bpf_map_lookup_elem(&flows, &k);
	if (n) {
		*n += 1;
		return XDP_TX;
	}
	__u64 one = 1;
	return bpf_map_update_elem(&flows, &k, &one, BPF_NOEXIST) == 0 ? XDP_PASS : XDP_ABORTED;
}
