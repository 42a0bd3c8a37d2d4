/* CO-RE against a context type: the program declares its own partial
 * flavour of __sk_buff (fields reordered, as an old or trimmed vmlinux.h
 * might) and never the real one; the loader relocates the accesses to
 * the uapi layout (bpfvm: its built-in BTF; the kernel: vmlinux). */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char _license[] SEC("license") = "GPL";

struct __sk_buff___local {
	__u32 protocol;
	__u32 mark;
	__u32 len;
	__u32 not_in_kernel;
} __attribute__((preserve_access_index));

SEC("tc")
int core_ctx(struct __sk_buff___local *skb)
{
	__u32 r = skb->len;
	r += skb->mark << 12;
	r ^= skb->protocol << 16;
	r += bpf_core_field_exists(skb->not_in_kernel) ? 1000000000 : 0;
	return r;
}
