/* bpf_skb_adjust_room: room inserted or removed after the MAC header or
 * the fixed network header, and the kernel's error returns. The case is
 * chosen by the packet length (len & 7); the return value packs the
 * helper's results with the new length. */
#include "common.h"

#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#endif

SEC("tc")
int adjust_room(struct __sk_buff *skb)
{
	long r1 = 0, r2 = 0;
	switch (skb->len & 7) {
	case 0: /* room after the IPv4 header */
		r1 = bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_NET, 0);
		break;
	case 1: /* remove the first 8 bytes after it */
		r1 = bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_NET, 0);
		break;
	case 2: /* an IPIP-style encapsulation, twice: -EALREADY */
		r1 = bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4);
		r2 = bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4);
		break;
	case 3: /* decapsulation at the MAC layer, then too much */
		r1 = bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_DECAP_L3_IPV4);
		r2 = bpf_skb_adjust_room(skb, -(int)(skb->len - 14 - 19), BPF_ADJ_ROOM_MAC, 0);
		break;
	case 4: /* more than 0xfff: -EFAULT; growing with a decap flag: -EINVAL */
		r1 = bpf_skb_adjust_room(skb, 0x1000, BPF_ADJ_ROOM_NET, 0);
		r2 = bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_NET, BPF_F_ADJ_ROOM_DECAP_L3_IPV4);
		break;
	case 5: /* an unknown mode; unknown flags */
		r1 = bpf_skb_adjust_room(skb, 4, 7, 0);
		r2 = bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_NET, 1ULL << 20);
		break;
	case 6: /* more than the headroom: the packet is reallocated */
		r1 = bpf_skb_adjust_room(skb, 200, BPF_ADJ_ROOM_MAC, 0);
		r2 = bpf_skb_adjust_room(skb, 0, BPF_ADJ_ROOM_NET, 0);
		break;
	case 7: /* inconsistent encapsulation flags */
		r1 = bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC,
					 BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6);
		r2 = bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC,
					 BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE |
					 BPF_F_ADJ_ROOM_ENCAP_L4_UDP);
		break;
	}
	/* Mark the new room so data_out shows where it went. */
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	if (data + 40 <= data_end)
		((__u8 *)data)[39] ^= 0xa5;
	return (r1 & 0x3ff) | ((r2 & 0x3ff) << 10) | ((skb->len & 0xfff) << 20);
}
