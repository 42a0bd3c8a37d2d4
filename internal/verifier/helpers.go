package verifier

// Helper prototypes: what each helper takes and returns, as the kernel's
// struct bpf_func_proto describes it. The table is data so it can move to
// internal/helpers once that package exists.

// argType is the kind of one helper argument.
type argType uint8

const (
	argNone             argType = iota
	argAnything                 // any initialised value
	argConstMapPtr              // a map pointer (lddw of a map)
	argMapKey                   // pointer to key_size readable bytes
	argMapValue                 // pointer to value_size readable bytes
	argMem                      // pointer to readable memory, size in the next argument
	argMemOrNull                // like argMem, or NULL with size 0
	argUninitMem                // pointer to writable memory, size in the next argument
	argConstSize                // size of the previous memory argument, > 0
	argConstSizeOrZero          // size of the previous memory argument, >= 0
	argCtx                      // the program's context
	argSockCommon               // any socket pointer
	argSocket                   // a full socket (release argument)
	argRingbufMem               // a ring buffer record (release argument)
	argConstAllocSize           // a constant size (ringbuf_reserve)
	argLong                     // pointer to 8 writable, aligned bytes
	argFunc                     // a callback
	argStackOrNull              // pointer to stack or NULL (callback context)
	argSockCommonOrNull         // a socket pointer or NULL
	argCtxOrNull                // the context or NULL
	argInt                      // pointer to 4 writable, aligned bytes
	argConstStr                 // pointer into a read-only map value (a format string)
	argSpinLock                 // pointer to the bpf_spin_lock of a map value
)

// retType is the kind of a helper's result.
type retType uint8

const (
	retInteger retType = iota
	retVoid
	retMapValueOrNull
	retMapValue
	retSocketOrNull
	retSockCommonOrNull
	retTCPSockOrNull
	retRingbufMemOrNull
)

// helperProto describes one helper.
type helperProto struct {
	name    string
	ret     retType
	args    [5]argType
	acquire bool // the result holds a reference that must be released
	release bool // releases the reference of its socket/ringbuf argument
	// pktAccess allows packet pointers as memory arguments.
	pktAccess bool
	// changesPkt invalidates every packet pointer (the packet may move).
	changesPkt bool
	// cast: the result carries the reference of the first argument.
	cast bool
	// group says which program types may call it.
	group helperGroup
}

// helperGroup is a coarse class of program types allowed to call a helper.
type helperGroup uint8

const (
	groupBase          helperGroup = iota // every program type
	groupSKB                              // programs on an sk_buff
	groupTC                               // tc and friends (packet rewriting)
	groupTracing                          // kprobe, tracepoint, raw_tp, perf_event
	groupSockLookup                       // socket lookups (tc, xdp, cgroup_skb, sk_skb...)
	groupCgroupStorage                    // cgroup programs
	groupNotTracing                       // everything except tracing programs
	groupSKBOrXDP                         // tc, xdp, ...
	groupKprobe                           // kprobe (and fentry/fexit tracing)
)

const anyArgs = argAnything

var helperProtos = map[int32]*helperProto{
	1:   {name: "map_lookup_elem", ret: retMapValueOrNull, args: [5]argType{argConstMapPtr, argMapKey}, pktAccess: true},
	2:   {name: "map_update_elem", args: [5]argType{argConstMapPtr, argMapKey, argMapValue, argAnything}, pktAccess: true},
	3:   {name: "map_delete_elem", args: [5]argType{argConstMapPtr, argMapKey}, pktAccess: true},
	4:   {name: "probe_read", args: [5]argType{argUninitMem, argConstSizeOrZero, argAnything}, group: groupTracing},
	5:   {name: "ktime_get_ns"},
	6:   {name: "trace_printk", args: [5]argType{argMem, argConstSize}},
	7:   {name: "get_prandom_u32"},
	8:   {name: "get_smp_processor_id"},
	9:   {name: "skb_store_bytes", args: [5]argType{argCtx, argAnything, argMem, argConstSize, argAnything}, changesPkt: true, group: groupTC},
	10:  {name: "l3_csum_replace", args: [5]argType{argCtx, anyArgs, anyArgs, anyArgs, anyArgs}, changesPkt: true, group: groupTC},
	11:  {name: "l4_csum_replace", args: [5]argType{argCtx, anyArgs, anyArgs, anyArgs, anyArgs}, changesPkt: true, group: groupTC},
	12:  {name: "tail_call", ret: retVoid, args: [5]argType{argCtx, argConstMapPtr, argAnything}},
	13:  {name: "clone_redirect", args: [5]argType{argCtx, anyArgs, anyArgs}, changesPkt: true, group: groupTC},
	14:  {name: "get_current_pid_tgid"},
	15:  {name: "get_current_uid_gid"},
	16:  {name: "get_current_comm", args: [5]argType{argUninitMem, argConstSize}},
	17:  {name: "get_cgroup_classid", args: [5]argType{argCtx}, group: groupSKB},
	18:  {name: "skb_vlan_push", args: [5]argType{argCtx, anyArgs, anyArgs}, changesPkt: true, group: groupTC},
	19:  {name: "skb_vlan_pop", args: [5]argType{argCtx}, changesPkt: true, group: groupTC},
	23:  {name: "redirect", args: [5]argType{anyArgs, anyArgs}, group: groupSKBOrXDP},
	25:  {name: "perf_event_output", args: [5]argType{argCtx, argConstMapPtr, argAnything, argMem, argConstSizeOrZero}},
	26:  {name: "skb_load_bytes", args: [5]argType{argCtx, argAnything, argUninitMem, argConstSize}, group: groupSKB},
	27:  {name: "get_stackid", args: [5]argType{argCtx, argConstMapPtr, argAnything}, group: groupTracing},
	28:  {name: "csum_diff", args: [5]argType{argMemOrNull, argConstSizeOrZero, argMemOrNull, argConstSizeOrZero, argAnything}, pktAccess: true, group: groupSKBOrXDP},
	34:  {name: "get_hash_recalc", args: [5]argType{argCtx}, group: groupSKB},
	35:  {name: "get_current_task", group: groupTracing},
	38:  {name: "skb_change_tail", args: [5]argType{argCtx, anyArgs, anyArgs}, changesPkt: true, group: groupTC},
	39:  {name: "skb_pull_data", args: [5]argType{argCtx, anyArgs}, changesPkt: true, group: groupTC},
	40:  {name: "csum_update", args: [5]argType{argCtx, anyArgs}, group: groupTC},
	42:  {name: "get_numa_node_id"},
	43:  {name: "skb_change_head", args: [5]argType{argCtx, anyArgs, anyArgs}, changesPkt: true, group: groupTC},
	44:  {name: "xdp_adjust_head", args: [5]argType{argCtx, anyArgs}, changesPkt: true, group: groupSKBOrXDP},
	45:  {name: "probe_read_str", args: [5]argType{argUninitMem, argConstSizeOrZero, argAnything}, group: groupTracing},
	46:  {name: "get_socket_cookie", args: [5]argType{argCtx}, group: groupNotTracing},
	50:  {name: "skb_adjust_room", args: [5]argType{argCtx, anyArgs, anyArgs, anyArgs}, changesPkt: true, group: groupTC},
	54:  {name: "xdp_adjust_meta", args: [5]argType{argCtx, anyArgs}, changesPkt: true, group: groupSKBOrXDP},
	65:  {name: "xdp_adjust_tail", args: [5]argType{argCtx, anyArgs}, changesPkt: true, group: groupSKBOrXDP},
	67:  {name: "get_stack", args: [5]argType{argCtx, argUninitMem, argConstSizeOrZero, argAnything}, group: groupTracing},
	68:  {name: "skb_load_bytes_relative", args: [5]argType{argCtx, anyArgs, argUninitMem, argConstSize, anyArgs}, group: groupSKB},
	80:  {name: "get_current_cgroup_id"},
	81:  {name: "get_local_storage", ret: retMapValue, args: [5]argType{argConstMapPtr, argAnything}, group: groupCgroupStorage},
	84:  {name: "sk_lookup_tcp", ret: retSocketOrNull, acquire: true, args: [5]argType{argCtx, argMem, argConstSize, anyArgs, anyArgs}, pktAccess: true, group: groupSockLookup},
	85:  {name: "sk_lookup_udp", ret: retSocketOrNull, acquire: true, args: [5]argType{argCtx, argMem, argConstSize, anyArgs, anyArgs}, pktAccess: true, group: groupSockLookup},
	86:  {name: "sk_release", release: true, args: [5]argType{argSocket}, group: groupSockLookup},
	87:  {name: "map_push_elem", args: [5]argType{argConstMapPtr, argMapValue, argAnything}},
	88:  {name: "map_pop_elem", args: [5]argType{argConstMapPtr, argUninitMem}},
	89:  {name: "map_peek_elem", args: [5]argType{argConstMapPtr, argUninitMem}},
	95:  {name: "sk_fullsock", ret: retSocketOrNull, cast: true, args: [5]argType{argSockCommon}, group: groupSockLookup},
	96:  {name: "tcp_sock", ret: retTCPSockOrNull, cast: true, args: [5]argType{argSockCommon}, group: groupSockLookup},
	98:  {name: "get_listener_sock", ret: retSocketOrNull, args: [5]argType{argSockCommon}, group: groupSockLookup},
	99:  {name: "skc_lookup_tcp", ret: retSockCommonOrNull, acquire: true, args: [5]argType{argCtx, argMem, argConstSize, anyArgs, anyArgs}, pktAccess: true, group: groupSockLookup},
	112: {name: "probe_read_user", args: [5]argType{argUninitMem, argConstSizeOrZero, argAnything}, group: groupTracing},
	113: {name: "probe_read_kernel", args: [5]argType{argUninitMem, argConstSizeOrZero, argAnything}},
	114: {name: "probe_read_user_str", args: [5]argType{argUninitMem, argConstSizeOrZero, argAnything}, group: groupTracing},
	115: {name: "probe_read_kernel_str", args: [5]argType{argUninitMem, argConstSizeOrZero, argAnything}},
	118: {name: "jiffies64"},
	122: {name: "get_netns_cookie", args: [5]argType{argCtxOrNull}, group: groupNotTracing},
	82:  {name: "sk_select_reuseport", args: [5]argType{argCtx, argConstMapPtr, argMapKey, argAnything}, group: groupSockLookup},
	163: {name: "check_mtu", args: [5]argType{argCtx, argAnything, argInt, argAnything, argAnything}, group: groupSKBOrXDP},
	125: {name: "ktime_get_boot_ns"},
	130: {name: "ringbuf_output", args: [5]argType{argConstMapPtr, argMem, argConstSizeOrZero, argAnything}},
	131: {name: "ringbuf_reserve", ret: retRingbufMemOrNull, acquire: true, args: [5]argType{argConstMapPtr, argConstAllocSize, argAnything}},
	132: {name: "ringbuf_submit", ret: retVoid, release: true, args: [5]argType{argRingbufMem, argAnything}},
	133: {name: "ringbuf_discard", ret: retVoid, release: true, args: [5]argType{argRingbufMem, argAnything}},
	134: {name: "ringbuf_query", args: [5]argType{argConstMapPtr, argAnything}},
	160: {name: "ktime_get_coarse_ns", group: groupNotTracing},
	69:  {name: "fib_lookup", args: [5]argType{argCtx, argMem, argConstSize, argAnything}, group: groupSKBOrXDP},
	189: {name: "xdp_load_bytes", args: [5]argType{argCtx, argAnything, argUninitMem, argConstSize}, group: groupSKBOrXDP},
	190: {name: "xdp_store_bytes", args: [5]argType{argCtx, argAnything, argMem, argConstSize}, group: groupSKBOrXDP},
	188: {name: "xdp_get_buff_len", args: [5]argType{argCtx}, group: groupSKBOrXDP},
	124: {name: "sk_assign", args: [5]argType{argCtx, argSockCommonOrNull, argAnything}, group: groupSockLookup},
	52:  {name: "sk_redirect_map", args: [5]argType{argCtx, argConstMapPtr, argAnything, argAnything}, group: groupSockLookup},
	60:  {name: "msg_redirect_map", args: [5]argType{argCtx, argConstMapPtr, argAnything, argAnything}, group: groupSockLookup},
	61:  {name: "msg_apply_bytes", args: [5]argType{argCtx, argAnything}, group: groupSockLookup},
	62:  {name: "msg_cork_bytes", args: [5]argType{argCtx, argAnything}, group: groupSockLookup},
	63:  {name: "msg_pull_data", args: [5]argType{argCtx, argAnything, argAnything, argAnything}, changesPkt: true, group: groupSockLookup},
	101: {name: "sysctl_get_name", args: [5]argType{argCtx, argUninitMem, argConstSize, argAnything}, group: groupCgroupStorage},
	102: {name: "sysctl_get_current_value", args: [5]argType{argCtx, argUninitMem, argConstSize}, group: groupCgroupStorage},
	103: {name: "sysctl_get_new_value", args: [5]argType{argCtx, argUninitMem, argConstSize}, group: groupCgroupStorage},
	104: {name: "sysctl_set_new_value", args: [5]argType{argCtx, argMem, argConstSize}, group: groupCgroupStorage},
	64:  {name: "bind", args: [5]argType{argCtx, argMem, argConstSize}, group: groupSockLookup},
	106: {name: "strtoul", args: [5]argType{argMem, argConstSize, argAnything, argLong}},
	105: {name: "strtol", args: [5]argType{argMem, argConstSize, argAnything, argLong}},
	187: {name: "set_retval", args: [5]argType{argAnything}, group: groupCgroupStorage},
	186: {name: "get_retval", group: groupCgroupStorage},
	51:  {name: "redirect_map", args: [5]argType{argConstMapPtr, argAnything, argAnything}, group: groupSKBOrXDP},
	93:  {name: "spin_lock", ret: retVoid, args: [5]argType{argSpinLock}},
	94:  {name: "spin_unlock", ret: retVoid, args: [5]argType{argSpinLock}},
	164: {name: "for_each_map_elem", args: [5]argType{argConstMapPtr, argFunc, argStackOrNull, argAnything}},
	181: {name: "loop", args: [5]argType{argAnything, argFunc, argStackOrNull, argAnything}},
	165: {name: "snprintf", args: [5]argType{argMemOrNull, argConstSizeOrZero, argConstStr, argMemOrNull, argConstSizeOrZero}},
	177: {name: "trace_vprintk", args: [5]argType{argMem, argConstSize, argMemOrNull, argConstSizeOrZero}},
	// The attachment's function and cookie (bpf_get_func_ip_proto_*,
	// bpf_get_attach_cookie_proto_*: the context as the argument).
	173: {name: "get_func_ip", args: [5]argType{argCtx}, group: groupKprobe},
	174: {name: "get_attach_cookie", args: [5]argType{argCtx}, group: groupTracing},
	195: {name: "map_lookup_percpu_elem", ret: retMapValueOrNull, args: [5]argType{argConstMapPtr, argMapKey, argAnything}},
}

// helperNames lists kernel helpers bpfvm knows by name but has no
// prototype for: calling one is "unsupported", not "unknown".
const maxKernelHelper = 211

func (p *helperProto) allowed(pt progType) bool {
	switch p.group {
	case groupBase:
		return true
	case groupSKB:
		return pt.skb
	case groupTC:
		return pt.tc
	case groupTracing:
		return pt.tracing
	case groupSockLookup:
		return pt.tc || pt.name == "xdp" || pt.name == "cgroup_skb" || pt.name == "sk_skb" || pt.name == "sk_lookup" || pt.name == "cgroup_sock_addr" || pt.name == "sk_reuseport"
	case groupCgroupStorage:
		return pt.cgroup
	case groupNotTracing:
		return !pt.tracing
	case groupSKBOrXDP:
		return pt.tc || pt.name == "xdp"
	case groupKprobe:
		return pt.name == "kprobe" || pt.name == "tracing"
	}
	return false
}
