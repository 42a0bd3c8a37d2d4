/* bpf_redirect_map through a DEVMAP, a DEVMAP_HASH and a CPUMAP: present
 * keys redirect, absent ones return the fallback action. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} devhash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} cpus SEC(".maps");

SEC("xdp")
int redirect_map(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	switch (len % 5) {
	case 0:
		return bpf_redirect_map(&devs, 0, XDP_PASS);
	case 1:
		return bpf_redirect_map(&devs, 3, XDP_DROP);
	case 2:
		return bpf_redirect_map(&devhash, 7, XDP_PASS);
	case 3:
		return bpf_redirect_map(&devhash, 8, XDP_TX);
	default:
		return bpf_redirect_map(&cpus, 5, XDP_DROP) * 10 + bpf_redirect_map(&cpus, 0, 0);
	}
}
