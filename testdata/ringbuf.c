/* Ring buffer output, reserve/submit, reserve/discard and query. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct event {
	__u32 len;
	__u32 seq;
	__u8 head[8];
};

__u32 seq = 0;

SEC("xdp")
int ringbuf(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return XDP_ABORTED;
	e->len = data_end - data;
	e->seq = seq++;
	if (data + 8 <= data_end)
		__builtin_memcpy(e->head, data, 8);
	else
		__builtin_memset(e->head, 0, 8);
	bpf_ringbuf_submit(e, 0);
	__u64 *d = bpf_ringbuf_reserve(&events, 8, 0);
	if (d)
		bpf_ringbuf_discard(d, 0);
	__u32 tag = 0xfeed0000 | seq;
	long rc = bpf_ringbuf_output(&events, &tag, sizeof(tag), 0);
	if (rc)
		return XDP_DROP;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) & 0xfff;
}
