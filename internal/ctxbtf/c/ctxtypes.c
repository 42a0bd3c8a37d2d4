/* The context types of the program types bpfvm runs, as the kernel's
 * uapi defines them: compiled with BTF, they are bpfvm's built-in CO-RE
 * target (`make -C internal/ctxbtf` rebuilds ../ctxtypes.o with clang-19). */
#include <linux/bpf.h>

struct __sk_buff *bpfvm_skb;
struct xdp_md *bpfvm_xdp;
struct bpf_sock *bpfvm_sock;
struct bpf_sock_tuple *bpfvm_sock_tuple;
struct bpf_sock_addr *bpfvm_sock_addr;
struct bpf_sock_ops *bpfvm_sock_ops;
struct sk_msg_md *bpfvm_sk_msg;
struct sk_reuseport_md *bpfvm_sk_reuseport;
struct bpf_sysctl *bpfvm_sysctl;
struct bpf_sockopt *bpfvm_sockopt;
struct bpf_sk_lookup *bpfvm_sk_lookup;
struct bpf_flow_keys *bpfvm_flow_keys;
struct bpf_raw_tracepoint_args *bpfvm_raw_tp;
struct bpf_cgroup_dev_ctx *bpfvm_cgroup_dev;
struct bpf_fib_lookup *bpfvm_fib;
struct bpf_tunnel_key *bpfvm_tunnel_key;
struct bpf_xfrm_state *bpfvm_xfrm;
struct bpf_spin_lock *bpfvm_spin_lock;
struct bpf_timer *bpfvm_timer;
