/* bpf_snprintf into a map value and bpf_trace_printk return values. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[64]);
} text SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __s64);
} res SEC(".maps");

static const char fmt[] = "len=%u proto=%x neg=%d %5d|%-4u|%c%%";

SEC("xdp")
int snprintf_prog(struct xdp_md *ctx)
{
	__u32 k = 0;
	char *out = bpf_map_lookup_elem(&text, &k);
	if (!out)
		return XDP_ABORTED;
	__u64 args[6] = { ctx->data_end - ctx->data, 0xbeef, (__u64)-42, 7, 12, 'z' };
	__s64 n = bpf_snprintf(out, 64, fmt, args, sizeof(args));
	bpf_map_update_elem(&res, &k, &n, BPF_ANY);
	k = 1;
	n = bpf_printk("hello %d", 5);
	bpf_map_update_elem(&res, &k, &n, BPF_ANY);
	char tiny[8];
	k = 2;
	n = bpf_snprintf(tiny, sizeof(tiny), fmt, args, sizeof(args));
	bpf_map_update_elem(&res, &k, &n, BPF_ANY);
	return tiny[6] == 'r' ? XDP_PASS : XDP_DROP;
}
