/* bpf_skb_change_head: pushes zeroed bytes in front of the packet, writes
 * a tag into them, and refuses bad flags. */
#include "common.h"

SEC("tc")
int skb_change_head(struct __sk_buff *skb)
{
	if (bpf_skb_change_head(skb, 4, 1) != -22)
		return 1;
	if (bpf_skb_change_head(skb, 8, 0))
		return 2;
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	if (data + 8 > data_end)
		return 3;
	((__u8 *)data)[7] = 0x42;
	if (bpf_skb_change_head(skb, 100, 0))
		return 4;
	return skb->len;
}
