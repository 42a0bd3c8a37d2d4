/* bpf_skb_change_tail: trims, grows (zero-filled) and refuses lengths
 * below the network header; the new tail is written through direct
 * packet access. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __s64);
} res SEC(".maps");

SEC("tc")
int skb_change_tail(struct __sk_buff *skb)
{
	__u32 k = 0;
	__s64 rc = bpf_skb_change_tail(skb, 4, 0);
	bpf_map_update_elem(&res, &k, &rc, BPF_ANY);
	__u32 want = skb->len > 50 ? skb->len - 10 : skb->len + 100;
	k = 1;
	rc = bpf_skb_change_tail(skb, want, 0);
	bpf_map_update_elem(&res, &k, &rc, BPF_ANY);
	k = 2;
	rc = skb->len;
	bpf_map_update_elem(&res, &k, &rc, BPF_ANY);
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	__u32 off = skb->len - 4;
	if (off > 200)
		return TC_ACT_SHOT;
	if (data + off + 4 <= data_end)
		*(__u32 *)(data + off) ^= 0xa5a5a5a5;
	return TC_ACT_OK;
}
