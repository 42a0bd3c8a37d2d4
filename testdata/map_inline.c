/* Map helpers the engines run inline (array lookups in generated code,
 * hash operations without the generic helper call), with what must keep
 * the helpers' semantics: out-of-range and huge array keys, per-CPU
 * arrays (run on different CPUs), hash entries deleted and re-added,
 * update flags that fail, a key that lives in a map value rather than on
 * the stack, a value size that is not a multiple of 8 (padded stride). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} h SEC(".maps");

struct odd_val {
	__u32 a;
	__u8 b;
} __attribute__((packed));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, struct odd_val);
} odd SEC(".maps");

/* keys holds keys the program looks up through a pointer into a map
 * value (not the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} keys SEC(".maps");

SEC("raw_tracepoint/sys_enter")
int map_inline(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 base = ctx->args[0];
	__u64 sum = 0;
	for (int i = 0; i < 12; i++) {
		__u32 k = base + i;
		__u64 *v = bpf_map_lookup_elem(&arr, &k);
		if (v) {
			*v += i + 1;
			sum += *v;
		} else {
			sum += 1000;
		}
		v = bpf_map_lookup_elem(&pcpu, &k);
		if (v) {
			*v += k + 1;
			sum += *v * 3;
		}
		struct odd_val *o = bpf_map_lookup_elem(&odd, &k);
		if (o) {
			o->a += k;
			o->b += 1;
			sum += o->a + o->b;
		}
		v = bpf_map_lookup_elem(&h, &k);
		if (v) {
			sum += *v;
			if (*v & 1)
				sum += bpf_map_delete_elem(&h, &k) + 50;
			else
				*v += 1;
		} else {
			__u64 nv = k * 7 + ctx->args[1];
			/* BPF_EXIST on an absent key fails (-ENOENT). */
			sum += bpf_map_update_elem(&h, &k, &nv, BPF_EXIST) & 0xff;
			sum += bpf_map_update_elem(&h, &k, &nv, BPF_NOEXIST);
		}
		/* Deleting an absent key: -ENOENT. */
		__u32 absent = 1000 + i;
		sum += bpf_map_delete_elem(&h, &absent) & 0xff;
	}
	__u32 big = 0xffffffff;
	if (bpf_map_lookup_elem(&arr, &big))
		sum += 1;
	big = 0x80000000;
	if (bpf_map_lookup_elem(&pcpu, &big))
		sum += 2;
	__u32 zero = 0;
	__u32 *kp = bpf_map_lookup_elem(&keys, &zero);
	if (kp) {
		*kp = (*kp + base) & 15;
		__u64 *v = bpf_map_lookup_elem(&arr, kp);
		if (v)
			sum += *v << 4;
		v = bpf_map_lookup_elem(&h, kp);
		if (v)
			sum += *v << 8;
	}
	return sum & 0x7fffffff;
}
