/* bpf_perf_event_output of a struct and of packet bytes (the upper 32
 * bits of flags ask for that many packet bytes after the sample). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

struct sample {
	__u32 len;
	__u32 magic;
};

SEC("tc")
int perf_output(struct __sk_buff *skb)
{
	struct sample s = { .len = skb->len, .magic = 0xc0ffee };
	long rc = bpf_perf_event_output(skb, &samples, BPF_F_CURRENT_CPU, &s, sizeof(s));
	__u64 flags = BPF_F_CURRENT_CPU | ((__u64)16 << 32);
	long rc2 = bpf_perf_event_output(skb, &samples, flags, &s, sizeof(s));
	long bad = bpf_perf_event_output(skb, &samples, BPF_F_CURRENT_CPU | ((__u64)5000 << 32), &s, sizeof(s));
	return (rc == 0) + (rc2 == 0) * 2 + (bad == -14) * 4;
}
