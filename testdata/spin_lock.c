/* A value guarded by bpf_spin_lock. */
#include "common.h"

struct val {
	struct bpf_spin_lock lock;
	__u32 count;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct val);
} stats SEC(".maps");

SEC("tc")
int spin_lock(struct __sk_buff *skb)
{
	__u32 k = 0;
	struct val *v = bpf_map_lookup_elem(&stats, &k);
	if (!v)
		return TC_ACT_SHOT;
	bpf_spin_lock(&v->lock);
	v->count++;
	v->bytes += skb->len;
	bpf_spin_unlock(&v->lock);
	return TC_ACT_OK;
}
