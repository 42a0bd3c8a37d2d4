/* Task helpers from a syscall program (run in the caller's context):
 * pid/tgid, uid/gid and comm, plus bpf_printk with more than three
 * arguments (bpf_trace_vprintk). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[16]);
} comm SEC(".maps");

SEC("syscall")
int task(void *ctx)
{
	__u32 k = 0;
	__u64 v = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&ids, &k, &v, BPF_ANY);
	k = 1;
	v = bpf_get_current_uid_gid();
	bpf_map_update_elem(&ids, &k, &v, BPF_ANY);
	k = 2;
	v = bpf_printk("%d %u %x %lld", -1, 2, 0xff, 1234567890123LL);
	bpf_map_update_elem(&ids, &k, &v, BPF_ANY);
	k = 0;
	char *c = bpf_map_lookup_elem(&comm, &k);
	if (c)
		bpf_get_current_comm(c, 16);
	return 0;
}
