/* Accepts UDP packets whole and truncates others to 20 bytes, reading the
 * packet with bpf_skb_load_bytes (socket filters see it from the network
 * header). */
#include "common.h"

SEC("socket")
int socket_filter(struct __sk_buff *skb)
{
	__u8 proto;
	if (bpf_skb_load_bytes(skb, offsetof(struct iphdr, protocol), &proto, 1))
		return 0;
	if (proto == IPPROTO_UDP)
		return skb->len;
	return 20;
}
