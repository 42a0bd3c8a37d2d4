/* Classifies IPv6 packets by next header and hop limit, and 802.1Q
 * tagged frames by VLAN id, from a socket filter and tc. */
#include "common.h"

SEC("tc")
int classify_l3(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 1;
	if (eth->h_proto == bpf_htons(ETH_P_8021Q)) {
		__u16 *tci = (void *)(eth + 1);
		if ((void *)(tci + 2) > data_end)
			return 2;
		return 1000 + (bpf_ntohs(*tci) & 0xfff);
	}
	if (eth->h_proto != bpf_htons(ETH_P_IPV6))
		return 3;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > data_end)
		return 4;
	return ip6->nexthdr * 256 + ip6->hop_limit;
}
