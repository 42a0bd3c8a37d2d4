/* Compiled with -mcpu=v4: signed division and modulo, sign-extending
 * loads and moves, byte swaps and long jumps. */
#include "common.h"

SEC("xdp")
int cpuv4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	if (data + 16 > data_end)
		return 0;
	__s8 b = *(__s8 *)(data + 6);
	__s16 h = *(__s16 *)(data + 8);
	__s32 w = *(__s32 *)(data + 10);
	__s64 q = (__s64)w * -7;
	__s64 r = q / (b | 1) + q % 13 - h / -3;
	__u32 x = __builtin_bswap32((__u32)r);
	__u16 y = __builtin_bswap16((__u16)h);
	return (x ^ y) & 0x7fffffff;
}
