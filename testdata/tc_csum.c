/* Rewrites the IPv4 destination and fixes the IP and UDP checksums with
 * bpf_l3_csum_replace / bpf_l4_csum_replace, and records bpf_csum_diff
 * results. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __s64);
} sums SEC(".maps");

#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define UDP_CSUM_OFF (ETH_HLEN + sizeof(struct iphdr) + offsetof(struct udphdr, check))

SEC("tc")
int tc_csum(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = parse_ipv4(data, data_end);
	if (!ip || ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	__be32 old = ip->daddr, nw = bpf_htonl(0x0a0a0a0a);
	__u32 k = 0;
	__s64 d = bpf_csum_diff(&old, 4, &nw, 4, 0);
	bpf_map_update_elem(&sums, &k, &d, BPF_ANY);
	__u32 words[4] = { 0xdeadbeef, 0x01020304, 0xffffffff, 0 };
	k = 1;
	d = bpf_csum_diff(0, 0, words, sizeof(words), 0x1234);
	bpf_map_update_elem(&sums, &k, &d, BPF_ANY);
	k = 2;
	d = bpf_csum_diff(words, 3, 0, 0, 0);
	bpf_map_update_elem(&sums, &k, &d, BPF_ANY);
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old, nw, BPF_F_PSEUDO_HDR | sizeof(nw));
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old, nw, sizeof(nw));
	bpf_skb_store_bytes(skb, IP_DST_OFF, &nw, sizeof(nw), 0);
	k = 3;
	d = bpf_l3_csum_replace(skb, 1, 0, 0, 2);
	bpf_map_update_elem(&sums, &k, &d, BPF_ANY);
	return TC_ACT_OK;
}
