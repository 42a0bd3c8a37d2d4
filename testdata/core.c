/* CO-RE: reads IPv4 and TCP headers through relocatable field accesses
 * and checks field existence and type sizes. */
#include "common.h"
#include <bpf/bpf_core_read.h>

/* A local flavour of the kernel's struct iphdr: only the fields used,
 * in a different order; CO-RE relocates their offsets. */
struct iphdr___local {
	__be32 daddr;
	__be32 saddr;
	__u8 protocol;
	__u8 ttl;
	__u16 not_in_kernel;
} __attribute__((preserve_access_index));

SEC("tc")
int core(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	if (data + ETH_HLEN + sizeof(struct iphdr) > data_end)
		return 0;
	struct iphdr___local *ip = data + ETH_HLEN;
	__u32 r = ip->protocol;
	r += ip->ttl << 8;
	r ^= bpf_ntohl(ip->saddr);
	r += bpf_core_field_exists(ip->not_in_kernel) ? 1000000 : 0;
	r += bpf_core_field_offset(struct iphdr___local, daddr) << 24;
	r += bpf_core_type_size(struct iphdr___local);
	return r;
}
