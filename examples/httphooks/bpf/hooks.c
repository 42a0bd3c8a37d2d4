/* Request hooks for the httphooks example: a per-client rate limiter and
 * a path filter. The host passes a struct request as the context; the
 * return value is the verdict (0: allow, otherwise the HTTP status). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

struct request {
	__u32 client;    /* IPv4 address, network order */
	__u32 method;    /* 1 GET, 2 POST, 3 other */
	__u32 path_len;
	char path[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} requests SEC(".maps");

const volatile __u64 limit = 3;

SEC("syscall")
int rate_limit(struct request *req)
{
	__u32 client = req->client;
	__u64 *n = bpf_map_lookup_elem(&requests, &client);
	if (!n) {
		__u64 one = 1;
		bpf_map_update_elem(&requests, &client, &one, BPF_ANY);
		return 0;
	}
	if (__sync_fetch_and_add(n, 1) >= limit)
		return 429;
	return 0;
}

SEC("syscall")
int deny_admin(struct request *req)
{
	const char admin[] = "/admin";
	if (req->path_len < sizeof(admin) - 1)
		return 0;
	for (int i = 0; i < (int)sizeof(admin) - 1; i++)
		if (req->path[i] != admin[i])
			return 0;
	return 403;
}
