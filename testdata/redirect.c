/* bpf_redirect from XDP and tc: the return value is the action. */
#include "common.h"

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	return bpf_redirect(1, 0);
}

SEC("tc")
int tc_redirect(struct __sk_buff *skb)
{
	long bad = bpf_redirect(1, 0x80);
	if (bad != TC_ACT_SHOT)
		return 99;
	return bpf_redirect(1, BPF_F_INGRESS);
}
