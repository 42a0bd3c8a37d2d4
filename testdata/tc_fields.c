/* Reads __sk_buff fields into an array and writes the writable ones. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} seen SEC(".maps");

static __always_inline void put(__u32 k, __u32 v)
{
	bpf_map_update_elem(&seen, &k, &v, BPF_ANY);
}

SEC("tc")
int tc_fields(struct __sk_buff *skb)
{
	put(0, skb->len);
	put(1, skb->pkt_type);
	put(2, skb->mark);
	put(3, skb->protocol);
	put(4, skb->priority);
	put(5, skb->ifindex);
	put(6, skb->cb[0]);
	put(7, skb->data_end - skb->data);
	put(8, skb->wire_len);
	put(9, skb->ingress_ifindex);
	skb->mark = skb->mark + 1;
	skb->priority = 7;
	skb->cb[1] = 0xabcd;
	skb->tc_classid = 5;
	return TC_ACT_OK;
}
