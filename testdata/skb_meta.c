/* bpf_get_socket_cookie and bpf_get_hash_recalc on a test-run skb: the
 * values themselves differ between kernels and runs, so the program
 * returns the properties they must have. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_cookie SEC(".maps");

SEC("tc")
int skb_meta(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 c1 = bpf_get_socket_cookie(skb), c2 = bpf_get_socket_cookie(skb);
	__u32 h1 = bpf_get_hash_recalc(skb), h2 = bpf_get_hash_recalc(skb);
	__u32 r = 0;
	__u64 *last = bpf_map_lookup_elem(&last_cookie, &zero);
	if (!last)
		return -1;
	r |= (c1 != 0) << 0;             /* the test-run skb has a socket */
	r |= (c1 == c2) << 1;            /* one socket for the run */
	r |= (*last != 0 && *last != c1) << 2; /* a fresh socket each run */
	r |= (h1 != 0) << 3;             /* a flow hash is never 0 */
	r |= (h1 == h2) << 4;            /* stable */
	*last = c1;
	return r;
}

SEC("socket")
int socket_cookie(struct __sk_buff *skb)
{
	return bpf_get_socket_cookie(skb) != 0;
}
