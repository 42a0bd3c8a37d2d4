/* A raw tracepoint program reading its u64 arguments (the context the
 * host passes) and counting per first argument. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u64);
	__type(value, __u64);
} hits SEC(".maps");

SEC("raw_tracepoint/sys_enter")
int raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = ctx->args[0];
	__u64 v = ctx->args[1];
	__u64 *n = bpf_map_lookup_elem(&hits, &id);
	if (n)
		*n += v;
	else
		bpf_map_update_elem(&hits, &id, &v, BPF_NOEXIST);
	return (ctx->args[0] * 3 + ctx->args[1]) & 0xffff;
}
