/* Per-CPU array and hash counters of packets and bytes. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pkts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} by_proto SEC(".maps");

SEC("xdp")
int percpu_counters(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&pkts, &k);
	if (n)
		*n += 1;
	k = 1;
	n = bpf_map_lookup_elem(&pkts, &k);
	if (n)
		*n += data_end - data;
	struct iphdr *ip = parse_ipv4(data, data_end);
	__u32 proto = ip ? ip->protocol : 0;
	n = bpf_map_lookup_elem(&by_proto, &proto);
	if (n) {
		*n += 1;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&by_proto, &proto, &one, BPF_NOEXIST);
	}
	return XDP_PASS;
}
