/* Parses Ethernet/IPv4/TCP with variable IHL and counts SYNs per port. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32);
	__type(key, __u16);
	__type(value, __u32);
} syns SEC(".maps");

SEC("tc")
int parse_tcp(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = parse_ipv4(data, data_end);
	if (!ip || ip->protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	__u32 ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return TC_ACT_SHOT;
	struct tcphdr *tcp = (void *)ip + ihl;
	if ((void *)(tcp + 1) > data_end)
		return TC_ACT_SHOT;
	__u16 port = bpf_ntohs(tcp->dest);
	__u32 *n = bpf_map_lookup_elem(&syns, &port);
	if (n) {
		__sync_fetch_and_add(n, 1);
	} else {
		__u32 one = 1;
		bpf_map_update_elem(&syns, &port, &one, BPF_ANY);
	}
	return tcp->syn ? TC_ACT_SHOT : TC_ACT_OK;
}
