/* bpf_redirect_map with BPF_F_BROADCAST (and BPF_F_EXCLUDE_INGRESS when
 * the packet's first byte is odd). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} ports SEC(".maps");

SEC("xdp")
int redirect_bcast(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u64 flags = BPF_F_BROADCAST;
	if (data + 1 > data_end)
		return XDP_ABORTED;
	if (*(__u8 *)data & 1)
		flags |= BPF_F_EXCLUDE_INGRESS;
	return bpf_redirect_map(&ports, 0, flags);
}
