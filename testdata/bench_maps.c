/* Map benchmarks: 16 lookups or updates per run, from a program (written
 * out: a loop would make the verifier log explode). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} bh SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} ba SEC(".maps");

#define REP16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

#define LOOKUP(map, n) { k = n; __u64 *v = bpf_map_lookup_elem(&map, &k); if (v) sum += *v; }
#define HL(n) LOOKUP(bh, n)
#define AL(n) LOOKUP(ba, n)
#define HU(n) { k = n; __u64 v = n; bpf_map_update_elem(&bh, &k, &v, BPF_ANY); }

SEC("xdp")
int bench_hash_lookup(struct xdp_md *ctx)
{
	__u64 sum = 0;
	__u32 k;
	REP16(HL)
	return sum & 1 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int bench_hash_update(struct xdp_md *ctx)
{
	__u32 k;
	REP16(HU)
	return XDP_PASS;
}

SEC("xdp")
int bench_array_lookup(struct xdp_md *ctx)
{
	__u64 sum = 0;
	__u32 k;
	REP16(AL)
	return sum & 1 ? XDP_DROP : XDP_PASS;
}
