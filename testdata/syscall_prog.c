/* A BPF_PROG_TYPE_SYSCALL program: the context is a caller's struct it
 * reads and writes (the kernel copies it back). */
#include "common.h"

struct args {
	__u32 a, b;
	__u64 sum;
	char tag[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} total SEC(".maps");

SEC("syscall")
int syscall_prog(struct args *ctx)
{
	ctx->sum = (__u64)ctx->a * ctx->b;
	ctx->tag[0] = 'o';
	ctx->tag[1] = 'k';
	__u32 k = 0;
	__u64 *t = bpf_map_lookup_elem(&total, &k);
	if (t)
		*t += ctx->sum;
	return ctx->a > ctx->b;
}
