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

const attachXDPDevmap = 38 // BPF_XDP_DEVMAP

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
}

// ProgTypes lists the program types the verifier supports.
func ProgTypes() []string {
	var names []string
	for n := range progTypes {
		names = append(names, n)
	}
	return names
}
