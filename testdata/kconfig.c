/* .kconfig externs (values from the host kernel's configuration, as
 * libbpf fills them) and a weak .ksyms extern left unresolved. */
#include "common.h"
#include <stdbool.h>


extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_NET_CLS_ACT __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig;
/* A kernel symbol no kernel has: weak, so its address is 0. */
extern void bpfvm_no_such_ksym __ksym __weak;

SEC("tc")
int kernel_version(struct __sk_buff *skb)
{
	return LINUX_KERNEL_VERSION;
}

SEC("tc")
int config_values(struct __sk_buff *skb)
{
	/* Packs each value into its own bits so one return value checks all. */
	return CONFIG_HZ | (CONFIG_BPF_SYSCALL << 16) | (CONFIG_NET_CLS_ACT << 17) |
	       ((CONFIG_DEFAULT_HOSTNAME[1] == 'n') << 19);
}

SEC("tc")
int weak_ksym(struct __sk_buff *skb)
{
	return &bpfvm_no_such_ksym ? 1 : 2;
}
