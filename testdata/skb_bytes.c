/* bpf_skb_load_bytes / bpf_skb_store_bytes at valid and invalid
 * offsets. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __s64);
} res SEC(".maps");

static __always_inline void rec(__u32 i, __s64 v)
{
	bpf_map_update_elem(&res, &i, &v, BPF_ANY);
}

SEC("tc")
int skb_bytes(struct __sk_buff *skb)
{
	__u8 buf[8] = {};
	rec(0, bpf_skb_load_bytes(skb, 0, buf, 8));
	rec(1, *(__u64 *)buf);
	rec(2, bpf_skb_load_bytes(skb, skb->len - 4, buf, 8));
	rec(3, *(__u64 *)buf);
	__u8 w[4] = { 1, 2, 3, 4 };
	rec(4, bpf_skb_store_bytes(skb, 6, w, 4, 0));
	rec(5, bpf_skb_store_bytes(skb, skb->len - 2, w, 4, 0));
	rec(6, bpf_skb_store_bytes(skb, 0, w, 4, 8));
	return TC_ACT_SHOT;
}
