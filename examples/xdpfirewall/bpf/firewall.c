/* An XDP firewall: drops IPv4 packets whose source is in the blocklist
 * map (the value counts the drops) and TCP packets to blocked ports. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);   /* IPv4 source, network order */
	__type(value, __u64); /* drops */
} blocked_sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);  /* TCP destination port, host order */
	__type(value, __u8);
} blocked_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);   /* XDP action */
	__type(value, __u64); /* packets */
} stats SEC(".maps");

static __always_inline int count(int action)
{
	__u32 k = action;
	__u64 *n = bpf_map_lookup_elem(&stats, &k);
	if (n)
		*n += 1;
	return action;
}

SEC("xdp")
int firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return count(XDP_DROP);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return count(XDP_PASS);
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return count(XDP_DROP);
	__u64 *drops = bpf_map_lookup_elem(&blocked_sources, &ip->saddr);
	if (drops) {
		__sync_fetch_and_add(drops, 1);
		return count(XDP_DROP);
	}
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
		if ((void *)(tcp + 1) > data_end)
			return count(XDP_DROP);
		__u16 port = bpf_ntohs(tcp->dest);
		if (bpf_map_lookup_elem(&blocked_ports, &port))
			return count(XDP_DROP);
	}
	return count(XDP_PASS);
}
