/* An LRU per-CPU hash keyed by destination port, and array map
 * lookups out of range. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} small SEC(".maps");

SEC("tc")
int lru_percpu(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = parse_ipv4(data, data_end);
	if (!ip)
		return TC_ACT_UNSPEC;
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return TC_ACT_UNSPEC;
	__u32 port = bpf_ntohs(udp->dest);
	__u64 *n = bpf_map_lookup_elem(&ports, &port);
	if (n) {
		*n += skb->len;
	} else {
		__u64 len = skb->len;
		bpf_map_update_elem(&ports, &port, &len, BPF_ANY);
	}
	__u32 k = 2;
	if (bpf_map_lookup_elem(&small, &k))
		return TC_ACT_SHOT;
	__u32 v = 9;
	long rc = bpf_map_update_elem(&small, &k, &v, BPF_ANY);
	k = 1;
	bpf_map_update_elem(&small, &k, &rc, BPF_ANY);
	return TC_ACT_OK;
}
