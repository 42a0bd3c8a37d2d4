/* Legacy packet loads (LD_ABS / LD_IND) from a socket filter, as
 * classic-BPF-style filters compile. */
#include "common.h"

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

SEC("socket")
int ld_abs(struct __sk_buff *skb)
{
	/* Socket filters see the packet from the network header. */
	__u32 ver = load_byte(skb, 0) >> 4;
	if (ver != 4)
		return 1;
	__u32 proto = load_byte(skb, 9);
	__u32 src = load_word(skb, 12);
	__u32 ihl = (load_byte(skb, 0) & 0xf) * 4;
	__u32 dport = load_half(skb, ihl + 2);
	return (proto << 24) ^ src ^ dport;
}
