/* bpf_strtol / bpf_strtoul on strings taken from the packet payload. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 12);
	__type(key, __u32);
	__type(value, __s64);
} res SEC(".maps");

static __always_inline void rec(__u32 i, __s64 v)
{
	bpf_map_update_elem(&res, &i, &v, BPF_ANY);
}

SEC("xdp")
int strtox(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	char s[16];
	if (data + 16 > data_end)
		return XDP_PASS;
	__builtin_memcpy(s, data, 16);
	long l = 0;
	unsigned long ul = 0;
	rec(0, bpf_strtol(s, 16, 0, &l));
	rec(1, l);
	rec(2, bpf_strtoul(s, 16, 10, &ul));
	rec(3, ul);
	rec(4, bpf_strtol(s, 16, 16, &l));
	rec(5, l);
	rec(6, bpf_strtol(s + 1, 8, 8, &l));
	rec(7, l);
	rec(8, bpf_strtoul(s, 4, 3, &ul));
	return XDP_PASS;
}
