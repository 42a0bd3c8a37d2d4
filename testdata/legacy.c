/* A legacy `maps` section map (struct bpf_map_def, as before BTF-defined
 * maps), and a program in a section libbpf does not recognise: the loader
 * must be given its type. */
#include "common.h"

/* libbpf 1.0 dropped struct bpf_map_def from its headers; old objects
 * declared it themselves, as here. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

SEC("bpfvm/custom")
int custom_section(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 key = (data_end - data) & 3;
	__u64 *n = bpf_map_lookup_elem(&legacy_counts, &key);
	if (n)
		__sync_fetch_and_add(n, data_end - data);
	return XDP_PASS;
}
