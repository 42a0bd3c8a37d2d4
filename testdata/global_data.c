/* Global variables in .data, .bss and .rodata. */
#include "common.h"

__u64 calls = 0;          /* .bss */
__u32 last_len = 0;       /* .bss */
__u64 base = 1000;        /* .data */
const volatile __u32 factor = 3; /* .rodata */

SEC("xdp")
int global_data(struct xdp_md *ctx)
{
	calls++;
	last_len = ctx->data_end - ctx->data;
	base += factor;
	return base % 5;
}
