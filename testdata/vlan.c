/* bpf_skb_vlan_push/pop: the offloaded tag in __sk_buff's vlan fields,
 * tags written into and removed from the packet, skb->protocol. The case
 * is chosen by the packet length (len & 3). */
#include "common.h"

static __always_inline __u32 summary(struct __sk_buff *skb, long r1, long r2)
{
	/* Mixes every observable so one return value compares them all. */
	__u32 h = (__u32)r1 * 3 + (__u32)r2 * 5;
	h = h * 31 + skb->vlan_present;
	h = h * 31 + skb->vlan_tci;
	h = h * 31 + skb->vlan_proto;
	h = h * 31 + skb->protocol;
	h = h * 31 + skb->len;
	return h;
}

SEC("tc")
int vlan(struct __sk_buff *skb)
{
	long r1 = 0, r2 = 0;
	switch (skb->len & 3) {
	case 0:
		r1 = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 5);
		break;
	case 1: /* the first tag goes into the packet */
		r1 = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 0x2005);
		r2 = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021AD), 7);
		break;
	case 2: /* a tagged packet's tag leaves it */
		r1 = bpf_skb_vlan_pop(skb);
		r2 = bpf_skb_vlan_pop(skb);
		break;
	case 3: /* an unknown protocol becomes 802.1Q; pop clears */
		r1 = bpf_skb_vlan_push(skb, bpf_htons(0x1234), 9);
		if (skb->vlan_proto != bpf_htons(ETH_P_8021Q))
			return -1;
		r2 = bpf_skb_vlan_pop(skb);
		break;
	}
	return summary(skb, r1, r2);
}
