/* Drops IPv4 packets from blocked sources, counting verdicts. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);   /* source address, network order */
	__type(value, __u64); /* packets dropped */
} blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 action = XDP_PASS;
	struct iphdr *ip = parse_ipv4(data, data_end);
	if (ip) {
		__u64 *drops = bpf_map_lookup_elem(&blocklist, &ip->saddr);
		if (drops) {
			__sync_fetch_and_add(drops, 1);
			action = XDP_DROP;
		}
	}
	__u64 *n = bpf_map_lookup_elem(&verdicts, &action);
	if (n)
		__sync_fetch_and_add(n, 1);
	return action;
}
