/* bpf-to-bpf calls, including recursion-free chains and stack use. */
#include "common.h"

static __noinline __u32 sum_bytes(const __u8 *p, const void *end, int n)
{
	__u32 s = 0;
	for (int i = 0; i < 64 && i < n; i++) {
		if ((void *)(p + i + 1) > end)
			break;
		s += p[i];
	}
	return s;
}

static __noinline __u32 mix(__u32 a, __u32 b)
{
	__u32 buf[8];
	for (int i = 0; i < 8; i++)
		buf[i] = a * (i + 1) ^ b;
	return buf[3] + buf[7];
}

SEC("xdp")
int bpf2bpf(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 s = sum_bytes(data, data_end, 40);
	return mix(s, 0x55) & 0xff;
}
