package verifier

// Program types: which context fields a program may read and write, which
// loads produce packet pointers, what the program may return. The tables
// follow the kernel's *_is_valid_access functions (net/core/filter.c,
// kernel/trace/bpf_trace.c) and are data so they can move to
// internal/progtype later.

// progType describes one program type.
type progType struct {
	name string
	// skb: the context is a __sk_buff; tc: packet-rewriting tc helpers;
	// tracing: kprobe/tracepoint/raw_tp/perf_event; cgroup: cgroup hooks.
	skb, tc, tracing, cgroup bool
	// ldAbs allows the legacy LD_ABS/LD_IND packet loads.
	ldAbs bool
	// pktRead/pktWrite allow direct packet access.
	pktRead, pktWrite bool
	// ctxAccess decides one context access: whether it is allowed and, for
	// loads, the type of the loaded value (Scalar unless a pointer field).
	ctxAccess func(off, size int, write bool, attach uint32) (bool, RegType)
	// retMin/retMax bound r0 at exit when hasRet is set.
	hasRet         bool
	retMin, retMax int64
}

// __sk_buff field offsets.
const (
	skbLen           = 0
	skbMark          = 8
	skbQueueMapping  = 12
	skbPriority      = 32
	skbTCIndex       = 44
	skbCB0           = 48
	skbCB4End        = 68
	skbTCClassid     = 72
	skbData          = 76
	skbDataEnd       = 80
	skbFamily        = 88
	skbRemoteIP4     = 92
	skbLocalIP4      = 96
	skbRemoteIP6     = 100
	skbLocalIP6      = 116
	skbLocalPortEnd  = 140
	skbDataMeta      = 140
	skbFlowKeys      = 144
	skbTstamp        = 152
	skbWireLen       = 160
	skbSk            = 168
	skbTstampType    = 180
	skbHwtstamp      = 184
	skbSize          = 192
	skbTstampTypeEnd = 181
)

func in(off, lo, hi int) bool { return off >= lo && off < hi } // [lo, hi)

// skbValid is bpf_skb_is_valid_access.
func skbValid(off, size int, write bool) (bool, RegType) {
	if off < 0 || off >= skbSize || off%size != 0 {
		return false, 0
	}
	switch {
	case in(off, skbCB0, skbCB4End):
		if off+size > skbCB4End {
			return false, 0
		}
	case in(off, skbRemoteIP6, skbLocalIP6+16), in(off, skbRemoteIP4, skbRemoteIP4+4), in(off, skbLocalIP4, skbLocalIP4+4),
		in(off, skbData, skbData+4), in(off, skbDataMeta, skbDataMeta+4), in(off, skbDataEnd, skbDataEnd+4):
		if size != 4 {
			return false, 0
		}
	case in(off, skbFlowKeys, skbFlowKeys+8):
		return false, 0
	case in(off, skbHwtstamp, skbHwtstamp+8):
		if write || size != 8 {
			return false, 0
		}
	case in(off, skbTstamp, skbTstamp+8):
		if size != 8 {
			return false, 0
		}
	case off == skbSk:
		if write || size != 8 {
			return false, 0
		}
		return true, PtrToSockCommon | MaybeNull
	case in(off, skbSk, skbSk+8):
		return false, 0
	case off == skbTstampType:
		return false, 0
	case in(off, skbTstampTypeEnd, skbHwtstamp):
		return false, 0
	default:
		if write {
			if size != 4 {
				return false, 0
			}
		} else if size > 4 || size&(size-1) != 0 {
			return false, 0
		}
	}
	return true, Scalar
}

func socketFilterAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	switch {
	case in(off, skbTCClassid, skbTCClassid+4), in(off, skbData, skbData+4), in(off, skbDataMeta, skbDataMeta+4),
		in(off, skbDataEnd, skbDataEnd+4), in(off, skbFamily, skbLocalPortEnd), in(off, skbTstamp, skbTstamp+8),
		in(off, skbWireLen, skbWireLen+4), in(off, skbHwtstamp, skbHwtstamp+8):
		return false, 0
	}
	if write && !in(off, skbCB0, skbCB4End) {
		return false, 0
	}
	return skbValid(off, size, write)
}

func tcAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if off < 0 || off >= skbSize {
		return false, 0
	}
	if write {
		switch {
		case in(off, skbMark, skbMark+4), in(off, skbTCIndex, skbTCIndex+4), in(off, skbPriority, skbPriority+4),
			in(off, skbTCClassid, skbTCClassid+4), in(off, skbCB0, skbCB4End), in(off, skbTstamp, skbTstamp+8),
			in(off, skbQueueMapping, skbQueueMapping+4):
		default:
			return false, 0
		}
	}
	t := Scalar
	switch {
	case in(off, skbData, skbData+4):
		t = PtrToPacket
	case in(off, skbDataMeta, skbDataMeta+4):
		t = PtrToPacketMeta
	case in(off, skbDataEnd, skbDataEnd+4):
		t = PtrToPacketEnd
	case in(off, skbFamily, skbLocalPortEnd):
		return false, 0
	case off == skbTstampType:
		return size == 1, Scalar
	}
	ok, rt := skbValid(off, size, write)
	if t != Scalar {
		return ok, t
	}
	return ok, rt
}

func cgroupSKBAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	switch {
	case in(off, skbTCClassid, skbTCClassid+4), in(off, skbDataMeta, skbDataMeta+4), in(off, skbWireLen, skbWireLen+4):
		return false, 0
	}
	if write {
		switch {
		case in(off, skbMark, skbMark+4), in(off, skbPriority, skbPriority+4), in(off, skbCB0, skbCB4End), in(off, skbTstamp, skbTstamp+8):
		default:
			return false, 0
		}
	}
	ok, rt := skbValid(off, size, write)
	switch {
	case in(off, skbData, skbData+4):
		rt = PtrToPacket
	case in(off, skbDataEnd, skbDataEnd+4):
		rt = PtrToPacketEnd
	}
	return ok, rt
}

// xdp_md: data 0, data_end 4, data_meta 8, ingress_ifindex 12,
// rx_queue_index 16, egress_ifindex 20.
func xdpAccess(off, size int, write bool, attach uint32) (bool, RegType) {
	if write {
		return false, 0
	}
	if off == 20 && attach != attachXDPDevmap {
		return false, 0
	}
	if off < 0 || off >= 24 || off%size != 0 || size != 4 {
		return false, 0
	}
	switch off {
	case 0:
		return true, PtrToPacket
	case 4:
		return true, PtrToPacketEnd
	case 8:
		return true, PtrToPacketMeta
	}
	return true, Scalar
}

const attachXDPDevmap = 33 // BPF_XDP_DEVMAP

func tracepointAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if off < 8 || off >= 8192 || write || off%size != 0 {
		return false, 0
	}
	return true, Scalar
}

// struct pt_regs on x86-64 is 21 longs.
const ptRegsSize = 168

func kprobeAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if off < 0 || off >= ptRegsSize || write || off%size != 0 || off+size > ptRegsSize {
		return false, 0
	}
	return true, Scalar
}

func rawTPAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if off < 0 || off >= 8*12 || write || off%size != 0 {
		return false, 0
	}
	return true, Scalar
}

// bpf_perf_event_data: pt_regs, then u64 sample_period, u64 addr.
func perfEventAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if off < 0 || off >= ptRegsSize+16 || write || off%size != 0 {
		return false, 0
	}
	if off >= ptRegsSize {
		return size <= 8 && size&(size-1) == 0, Scalar
	}
	return size == 8, Scalar
}

func syscallAccess(off, size int, _ bool, _ uint32) (bool, RegType) {
	if off < 0 || off >= 65535 || off%size != 0 {
		return false, 0
	}
	return true, Scalar
}

// Attach types (enum bpf_attach_type) the context tables depend on.
const (
	attachInetSockCreate  = 2
	attachInet4Bind       = 8
	attachInet6Bind       = 9
	attachInet4Connect    = 10
	attachInet6Connect    = 11
	attachInet4PostBind   = 12
	attachInet6PostBind   = 13
	attachUDP4Sendmsg     = 14
	attachUDP6Sendmsg     = 15
	attachUDP4Recvmsg     = 19
	attachUDP6Recvmsg     = 20
	attachInet4Getpeer    = 29
	attachInet6Getpeer    = 30
	attachInet4Getsock    = 31
	attachInet6Getsock    = 32
	attachInetSockRelease = 34
	attachUnixConnect     = 49
	attachUnixSendmsg     = 50
	attachUnixRecvmsg     = 51
	attachUnixGetpeer     = 52
	attachUnixGetsock     = 53
)

func wideOK(off, size, lo, hi int) bool { // an 8-byte access inside [lo, hi)
	return size == 8 && off >= lo && off+8 <= hi && off%8 == 0
}

func narrowOK(size, def int) bool { return size <= def && size&(size-1) == 0 }

// struct bpf_sock_addr: user_family 0, user_ip4 4, user_ip6 8..24,
// user_port 24, family 28, type 32, protocol 36, msg_src_ip4 40,
// msg_src_ip6 44..60, sk 64.
func sockAddrAccess(off, size int, write bool, attach uint32) (bool, RegType) {
	if off < 0 || off >= 72 || off%size != 0 {
		return false, 0
	}
	switch {
	case in(off, 4, 8):
		switch attach {
		case attachInet4Bind, attachInet4Connect, attachInet4Getpeer, attachInet4Getsock, attachUDP4Sendmsg, attachUDP4Recvmsg:
		default:
			return false, 0
		}
	case in(off, 8, 24):
		switch attach {
		case attachInet6Bind, attachInet6Connect, attachInet6Getpeer, attachInet6Getsock, attachUDP6Sendmsg, attachUDP6Recvmsg:
		default:
			return false, 0
		}
	case in(off, 40, 44):
		if attach != attachUDP4Sendmsg {
			return false, 0
		}
	case in(off, 44, 60):
		if attach != attachUDP6Sendmsg {
			return false, 0
		}
	}
	switch {
	case in(off, 4, 28), in(off, 40, 60):
		if wideOK(off, size, 8, 24) || wideOK(off, size, 44, 60) {
			return true, Scalar
		}
		if write {
			return size == 4, Scalar
		}
		return narrowOK(size, 4), Scalar
	case off == 64:
		return !write && size == 8, PtrToSocket
	case off >= 60:
		return false, 0 // padding and the inside of the sk pointer
	}
	return !write && size == 4, Scalar
}

func skSKBAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	switch {
	case in(off, skbTCClassid, skbTCClassid+4), in(off, skbDataMeta, skbDataMeta+4), in(off, skbTstamp, skbTstamp+8),
		in(off, skbWireLen, skbWireLen+4), in(off, skbHwtstamp, skbHwtstamp+8), in(off, skbMark, skbMark+4):
		return false, 0
	}
	if write && !in(off, skbTCIndex, skbTCIndex+4) && !in(off, skbPriority, skbPriority+4) {
		return false, 0
	}
	ok, rt := skbValid(off, size, write)
	switch {
	case in(off, skbData, skbData+4):
		rt = PtrToPacket
	case in(off, skbDataEnd, skbDataEnd+4):
		rt = PtrToPacketEnd
	}
	return ok, rt
}

func lwtAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	switch {
	case in(off, skbTCClassid, skbTCClassid+4), in(off, skbFamily, skbLocalPortEnd), in(off, skbDataMeta, skbDataMeta+4),
		in(off, skbTstamp, skbTstamp+8), in(off, skbWireLen, skbWireLen+4), in(off, skbHwtstamp, skbHwtstamp+8):
		return false, 0
	}
	if write && !in(off, skbMark, skbMark+4) && !in(off, skbPriority, skbPriority+4) && !in(off, skbCB0, skbCB4End) {
		return false, 0
	}
	ok, rt := skbValid(off, size, write)
	switch {
	case in(off, skbData, skbData+4):
		rt = PtrToPacket
	case in(off, skbDataEnd, skbDataEnd+4):
		rt = PtrToPacketEnd
	}
	return ok, rt
}

// struct sk_msg_md: data 0, data_end 8, family 16, remote_ip4 20,
// local_ip4 24, remote_ip6 28..44, local_ip6 44..60, remote_port 60,
// local_port 64, size 68, sk 72.
func skMsgAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if write || off < 0 || off%size != 0 {
		return false, 0
	}
	switch {
	case off == 0:
		return size == 8, PtrToPacket
	case off == 8:
		return size == 8, PtrToPacketEnd
	case off == 72:
		return size == 8, PtrToSocket
	case in(off, 16, 72):
		return size == 4, Scalar
	}
	return false, 0
}

// struct bpf_sk_lookup: sk/cookie 0, family 8, protocol 12, remote_ip4 16,
// remote_ip6 20..36, remote_port 36 (2 bytes + 2 padding), local_ip4 40,
// local_ip6 44..60, local_port 60, ingress_ifindex 64.
func skLookupAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if off < 0 || off >= 72 || off%size != 0 || write {
		return false, 0
	}
	switch {
	case off == 0:
		return size == 8, PtrToSocket | MaybeNull
	case in(off, 8, 36), in(off, 40, 68):
		return narrowOK(size, 4), Scalar
	case in(off, 36, 38):
		return size == 4 || narrowOK(size, 2), Scalar
	case in(off, 38, 40):
		return narrowOK(size, 2), Scalar
	}
	return false, 0
}

// cgroup_sock programs see a struct bpf_sock; which fields depends on the
// attach point.
func cgroupSockAccess(off, size int, write bool, attach uint32) (bool, RegType) {
	if attach == 0 {
		// The kernel loads cgroup_sock programs without an attach type as
		// BPF_CGROUP_INET_SOCK_CREATE.
		attach = attachInetSockCreate
	}
	if !sockAccessOK(PtrToSocket, off, size) {
		return false, 0
	}
	switch {
	case off == 0, off == 16, off == 20: // bound_dev_if, mark, priority
		return attach == attachInetSockCreate || attach == attachInetSockRelease, Scalar
	case in(off, 24, 28):
		return attach == attachInet4PostBind && !write, Scalar
	case in(off, 28, 44):
		return attach == attachInet6PostBind && !write, Scalar
	case in(off, 44, 48):
		return (attach == attachInet4PostBind || attach == attachInet6PostBind) && !write, Scalar
	}
	return !write, Scalar
}

func cgroupDeviceAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if write || off < 0 || off+size > 12 || off%size != 0 {
		return false, 0
	}
	if off < 4 {
		return narrowOK(size, 4), Scalar
	}
	return size == 4, Scalar
}

// struct sk_reuseport_md: data 0, data_end 8, len 16, eth_protocol 20,
// ip_protocol 24, bind_inany 28, hash 32, sk 40, migrating_sk 48.
func skReuseportAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if off < 0 || off >= 56 || off%size != 0 || write {
		return false, 0
	}
	switch {
	case off == 0:
		return size == 8, PtrToPacket
	case off == 8:
		return size == 8, PtrToPacketEnd
	case off == 32:
		return size == 4, Scalar
	case off == 40:
		return size == 8, PtrToSocket
	case off == 48:
		return size == 8, PtrToSockCommon | MaybeNull
	case in(off, 20, 24):
		if size < 2 {
			return false, 0
		}
		return narrowOK(size, 4), Scalar
	case in(off, 16, 32):
		return narrowOK(size, 4), Scalar
	}
	return false, 0
}

// netfilter: struct bpf_nf_ctx { state *; skb * }; both are BTF-typed
// kernel pointers bpfvm cannot follow yet.
func netfilterAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if off < 0 || off >= 16 || write {
		return false, 0
	}
	if (off == 0 || off == 8) && size == 8 {
		return true, ptrToBTFID
	}
	return false, 0
}

// struct bpf_sysctl { u32 write; u32 file_pos; }
func sysctlAccess(off, size int, write bool, _ uint32) (bool, RegType) {
	if off < 0 || off+size > 8 || off%size != 0 {
		return false, 0
	}
	if off < 4 {
		return !write && narrowOK(size, 4), Scalar
	}
	if write {
		return size == 4, Scalar
	}
	return narrowOK(size, 4), Scalar
}

const (
	attachGetsockopt = 21
	attachSetsockopt = 22
)

// struct bpf_sockopt: sk 0, optval 8, optval_end 16, level 24, optname 28,
// optlen 32, retval 36.
func sockoptAccess(off, size int, write bool, attach uint32) (bool, RegType) {
	if off < 0 || off >= 40 || off%size != 0 {
		return false, 0
	}
	if write {
		switch off {
		case 36:
			return size == 4 && attach == attachGetsockopt, Scalar
		case 24, 28:
			return size == 4 && attach == attachSetsockopt, Scalar
		case 32:
			return size == 4, Scalar
		}
		return false, 0
	}
	switch {
	case in(off, 0, 8):
		return size == 8, PtrToSocket
	case in(off, 8, 16):
		return size == 8, PtrToPacket
	case in(off, 16, 24):
		return size == 8, PtrToPacketEnd
	case off == 36:
		return size == 4 && attach == attachGetsockopt, Scalar
	}
	return size == 4, Scalar
}

var progTypes = map[string]*progType{
	"socket_filter": {name: "socket_filter", skb: true, ldAbs: true, ctxAccess: socketFilterAccess},
	"sched_cls":     {name: "sched_cls", skb: true, tc: true, ldAbs: true, pktRead: true, pktWrite: true, ctxAccess: tcAccess},
	"sched_act":     {name: "sched_act", skb: true, tc: true, ldAbs: true, pktRead: true, pktWrite: true, ctxAccess: tcAccess},
	"cgroup_skb":    {name: "cgroup_skb", skb: true, cgroup: true, pktRead: true, ctxAccess: cgroupSKBAccess, hasRet: true, retMin: 0, retMax: 1},
	"xdp":           {name: "xdp", pktRead: true, pktWrite: true, ctxAccess: xdpAccess},
	"tracepoint":    {name: "tracepoint", tracing: true, ctxAccess: tracepointAccess},
	"kprobe":        {name: "kprobe", tracing: true, ctxAccess: kprobeAccess},
	"raw_tp":        {name: "raw_tp", tracing: true, ctxAccess: rawTPAccess},
	"perf_event":    {name: "perf_event", tracing: true, ctxAccess: perfEventAccess},
	"syscall":       {name: "syscall", ctxAccess: syscallAccess},
	// mem is bpfvm's own contract (the conformance suite's, interp.Run's):
	// r1 points to Config.MemSize bytes of readable, writable memory and r2
	// holds that size. There is no context.
	"mem":              {name: "mem", ctxAccess: func(int, int, bool, uint32) (bool, RegType) { return false, 0 }},
	"cgroup_sock_addr": {name: "cgroup_sock_addr", cgroup: true, ctxAccess: sockAddrAccess, hasRet: true, retMin: 0, retMax: 1},
	"sk_skb":           {name: "sk_skb", skb: true, pktRead: true, pktWrite: true, ctxAccess: skSKBAccess},
	"sk_msg":           {name: "sk_msg", pktRead: true, pktWrite: true, ctxAccess: skMsgAccess},
	"sk_lookup":        {name: "sk_lookup", ctxAccess: skLookupAccess, hasRet: true, retMin: 0, retMax: 1},
	"cgroup_sock":      {name: "cgroup_sock", cgroup: true, ctxAccess: cgroupSockAccess, hasRet: true, retMin: 0, retMax: 1},
	"cgroup_device":    {name: "cgroup_device", cgroup: true, ctxAccess: cgroupDeviceAccess, hasRet: true, retMin: 0, retMax: 1},
	"lwt_in":           {name: "lwt_in", skb: true, pktRead: true, ctxAccess: lwtAccess},
	"lwt_out":          {name: "lwt_out", skb: true, pktRead: true, ctxAccess: lwtAccess},
	"lwt_xmit":         {name: "lwt_xmit", skb: true, tc: true, pktRead: true, pktWrite: true, ctxAccess: lwtAccess},
	"sk_reuseport":     {name: "sk_reuseport", pktRead: true, ctxAccess: skReuseportAccess},
	"netfilter":        {name: "netfilter", ctxAccess: netfilterAccess, hasRet: true, retMin: 0, retMax: 1},
	"cgroup_sysctl":    {name: "cgroup_sysctl", cgroup: true, ctxAccess: sysctlAccess, hasRet: true, retMin: 0, retMax: 1},
	"cgroup_sockopt":   {name: "cgroup_sockopt", cgroup: true, pktRead: true, pktWrite: true, ctxAccess: sockoptAccess, hasRet: true, retMin: 0, retMax: 1},
}

// ProgTypes lists the program types the verifier supports.
func ProgTypes() []string {
	var names []string
	for n := range progTypes {
		names = append(names, n)
	}
	return names
}
