/* Atomic operations on map values and the stack (cpu v3). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} a SEC(".maps");

SEC("xdp")
int atomics(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&a, &k);
	if (!v)
		return XDP_ABORTED;
	__u64 len = ctx->data_end - ctx->data;
	__u64 old = __sync_fetch_and_add(&v[0], len);
	__sync_fetch_and_or(&v[0], 0x100);
	__sync_fetch_and_and(&v[0], ~1ULL);
	__sync_fetch_and_xor(&v[0], 0x5);
	__u64 prev = __sync_val_compare_and_swap(&v[0], 0, 7);
	__u64 x = __sync_lock_test_and_set(&v[0], prev + old);
	k = 1;
	__u64 *w = bpf_map_lookup_elem(&a, &k);
	if (w)
		*w = x;
	__u32 small = 3;
	__u32 got = __sync_fetch_and_add(&small, 4);
	return (got + small) & 0xff;
}
