// Package progtype knows the kernel's program types: the context each one
// receives (laid out as the kernel's uapi structs), how BPF_PROG_TEST_RUN
// builds that context from a packet and a context struct, which context
// fields hold pointers, and what a run hands back.
//
// Pointer fields of a context (__sk_buff.data, xdp_md.data_end, ...) are
// 32 bits wide in the uapi struct but hold 64-bit pointers once the
// kernel rewrites the program's accesses (convert_ctx_access). bpfvm does
// the same: Rewrite turns every load of such a field into a 64-bit load of
// a shadow slot placed after the uapi struct, which the run fills with
// real addresses.
package progtype

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Type is a program type, numbered as the kernel's enum bpf_prog_type.
type Type uint32

// Program types (include/uapi/linux/bpf.h).
const (
	Unspec                Type = 0
	SocketFilter          Type = 1
	Kprobe                Type = 2
	SchedCLS              Type = 3
	SchedACT              Type = 4
	Tracepoint            Type = 5
	XDP                   Type = 6
	PerfEvent             Type = 7
	CgroupSKB             Type = 8
	CgroupSock            Type = 9
	LWTIn                 Type = 10
	LWTOut                Type = 11
	LWTXmit               Type = 12
	SockOps               Type = 13
	SkSKB                 Type = 14
	CgroupDevice          Type = 15
	SkMsg                 Type = 16
	RawTracepoint         Type = 17
	CgroupSockAddr        Type = 18
	LWTSeg6Local          Type = 19
	LircMode2             Type = 20
	SkReuseport           Type = 21
	FlowDissector         Type = 22
	CgroupSysctl          Type = 23
	RawTracepointWritable Type = 24
	CgroupSockopt         Type = 25
	Tracing               Type = 26
	StructOps             Type = 27
	Extension             Type = 28
	LSM                   Type = 29
	SkLookup              Type = 30
	Syscall               Type = 31
	Netfilter             Type = 32
)

var typeNames = map[Type]string{
	SocketFilter: "socket_filter", Kprobe: "kprobe", SchedCLS: "sched_cls", SchedACT: "sched_act",
	Tracepoint: "tracepoint", XDP: "xdp", PerfEvent: "perf_event", CgroupSKB: "cgroup_skb",
	CgroupSock: "cgroup_sock", LWTIn: "lwt_in", LWTOut: "lwt_out", LWTXmit: "lwt_xmit",
	SockOps: "sock_ops", SkSKB: "sk_skb", CgroupDevice: "cgroup_device", SkMsg: "sk_msg",
	RawTracepoint: "raw_tracepoint", CgroupSockAddr: "cgroup_sock_addr", LWTSeg6Local: "lwt_seg6local",
	LircMode2: "lirc_mode2", SkReuseport: "sk_reuseport", FlowDissector: "flow_dissector",
	CgroupSysctl: "cgroup_sysctl", RawTracepointWritable: "raw_tracepoint_writable",
	CgroupSockopt: "cgroup_sockopt", Tracing: "tracing", StructOps: "struct_ops",
	Extension: "extension", LSM: "lsm", SkLookup: "sk_lookup", Syscall: "syscall", Netfilter: "netfilter",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("prog_type(%d)", uint32(t))
}

// ErrContextAccess is wrapped by load errors for context accesses the
// program type does not allow.
var ErrContextAccess = errors.New("invalid context access")

// ErrUnsupportedType is returned for program types bpfvm cannot run.
var ErrUnsupportedType = errors.New("unsupported program type")

// ErrInvalidInput is wrapped by errors about test-run input the kernel
// would refuse with EINVAL.
var ErrInvalidInput = errors.New("invalid test-run input")

// layout describes a context struct.
type layout struct {
	size int // the uapi struct
	// ptrs maps the offset of each 32-bit pointer field to its shadow
	// slot index (shadow slot k lives at size + 8*k).
	ptrs map[int64]int
	// ptr64 lists 8-byte pointer fields (__bpf_md_ptr) programs may read.
	ptr64 map[int64]bool
}

// __sk_buff field offsets.
const (
	skbLen            = 0
	skbPktType        = 4
	skbMark           = 8
	skbQueueMapping   = 12
	skbProtocol       = 16
	skbVlanPresent    = 20
	skbVlanTCI        = 24
	skbVlanProto      = 28
	skbPriority       = 32
	skbIngressIfindex = 36
	skbIfindex        = 40
	skbTCIndex        = 44
	skbCB             = 48
	skbHash           = 68
	skbTCClassid      = 72
	skbData           = 76
	skbDataEnd        = 80
	skbNapiID         = 84
	skbFamily         = 88
	skbDataMeta       = 140
	skbFlowKeys       = 144
	skbTstamp         = 152
	skbWireLen        = 160
	skbGSOSegs        = 164
	skbSk             = 168
	skbGSOSize        = 176
	skbTstampType     = 180
	skbHwtstamp       = 184
	// SkBuffSize is sizeof(struct __sk_buff).
	SkBuffSize = 192
)

// xdp_md field offsets.
const (
	xdpData           = 0
	xdpDataEnd        = 4
	xdpDataMeta       = 8
	xdpIngressIfindex = 12
	xdpRxQueueIndex   = 16
	xdpEgressIfindex  = 20
	// XDPMdSize is sizeof(struct xdp_md).
	XDPMdSize = 24
)

var (
	skbLayout = layout{size: SkBuffSize, ptrs: map[int64]int{skbData: 0, skbDataEnd: 1, skbDataMeta: 2},
		ptr64: map[int64]bool{skbFlowKeys: true, skbSk: true}}
	xdpLayout = layout{size: XDPMdSize, ptrs: map[int64]int{xdpData: 0, xdpDataEnd: 1, xdpDataMeta: 2}}
)

// layoutOf returns the context layout of t, or nil for types whose
// context is opaque bytes the host supplies (tracing types).
func layoutOf(t Type) (*layout, error) {
	switch t {
	case SocketFilter, SchedCLS, SchedACT, CgroupSKB, LWTIn, LWTOut, LWTXmit:
		return &skbLayout, nil
	case XDP:
		return &xdpLayout, nil
	case Kprobe, Tracepoint, RawTracepoint, RawTracepointWritable, PerfEvent, Syscall, Tracing, Unspec:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedType, t)
}

// Rewrite checks the program's context accesses against its type and
// turns loads of pointer fields into 64-bit loads of their shadow slots.
// It returns a new slice; insns is not modified. A program that is not
// valid (isa.Validate) is refused with Validate's error: the analysis of
// its context accesses needs a valid one.
func Rewrite(t Type, insns []isa.Instruction) ([]isa.Instruction, error) {
	l, err := layoutOf(t)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return insns, nil
	}
	if err := isa.Validate(insns); err != nil {
		return nil, err
	}
	out := append([]isa.Instruction(nil), insns...)
	for _, a := range FindContextAccesses(insns) {
		i := insns[a.Index]
		bad := func(format string, args ...any) error {
			return &isa.InstructionError{Index: a.Index, Insn: i, Reason: fmt.Sprintf("%s context: "+format, append([]any{t}, args...)...), Err: ErrContextAccess}
		}
		if a.Off < 0 || a.Off+int64(a.Size) > int64(l.size) {
			return nil, bad("access of %d bytes at offset %d is outside the %d-byte context", a.Size, a.Off, l.size)
		}
		if a.Off%int64(a.Size) != 0 {
			return nil, bad("misaligned access of %d bytes at offset %d", a.Size, a.Off)
		}
		for f := range l.ptr64 {
			if a.Off < f+8 && f < a.Off+int64(a.Size) {
				if a.Store || a.Off != f || a.Size != 8 {
					return nil, bad("the pointer field at offset %d can only be read whole", f)
				}
			}
		}
		for f, slot := range l.ptrs {
			if a.Off < f+4 && f < a.Off+int64(a.Size) {
				if a.Store || a.Off != f || a.Size != 4 || i.Mode() != isa.ModeMEM {
					return nil, bad("the pointer field at offset %d can only be read as a whole u32", f)
				}
				// ldxw dst, [ctx+f] -> ldxdw dst, [ctx+shadow]: the
				// base register is unchanged, only offset and size move.
				n := out[a.Index]
				n.Opcode = isa.ClassLDX | isa.ModeMEM | isa.SizeDW
				n.Offset += int16(int64(l.size+8*slot) - f)
				out[a.Index] = n
			}
		}
	}
	return out, nil
}

// Request is the input of one test run, as BPF_PROG_TEST_RUN takes it.
type Request struct {
	Data    []byte // the packet (data_in)
	Context []byte // the context struct (ctx_in); nil: none given
	// DataOut and ContextOut ask for the outputs (cilium/ebpf's
	// RunOptions pass them as buffers; here their presence matters).
	WantContextOut bool
	// Unobserved says that nothing of the prepared memory can be seen:
	// the program cannot observe its context or packet (Observes is
	// false) and the caller wants neither output nor Finish. Prepare then
	// checks the input exactly as always (the same errors) and sets the
	// packet bounds, but neither copies the packet nor fills the context:
	// for a short program that work is most of a run.
	Unobserved bool
}

// Observes reports whether a program (as run: linked and rewritten) may
// observe its context or packet: it reads r1 (the context pointer) before
// writing it, uses a legacy packet load (LD_ABS/LD_IND read the packet
// implicitly), or calls a helper or kfunc (which may reach the packet
// through the helper state whatever it is passed). A program for which it
// is false can be run on an unfilled context (Request.Unobserved).
func Observes(insns []isa.Instruction) bool {
	for n, i := range insns {
		if n > 0 && insns[n-1].IsLDDW() {
			continue // second slot of an lddw
		}
		if i.Class() == isa.ClassLD && (i.Mode() == isa.ModeABS || i.Mode() == isa.ModeIND) {
			return true
		}
		if i.Opcode == isa.OpcodeCallX || i.Opcode == isa.OpcodeCall && i.Src != isa.CallLocal {
			return true
		}
	}
	// Only r10 is set on entry: any read of r1 (even through a bpf-to-bpf
	// call's argument) before it is written is refused.
	return isa.CheckInitialized(insns, isa.Reg(isa.R10)) != nil
}

// Run is a prepared run: the memory the program receives and the state the
// helpers share. A Run is reusable (Prepare again): its buffers are kept,
// so steady-state runs allocate nothing.
type Run struct {
	typ Type
	// Ctx is the context memory: r1 points at its first byte.
	Ctx []byte
	// LDPacket is what legacy LD_ABS/LD_IND loads read, and the packet
	// memory the program may address; nil for tracing types.
	LDPacket []byte
	// Packet is the packet state helpers act on (nil for tracing types).
	Packet *helpers.Packet

	l       *layout
	direct  bool   // skb types with direct packet access
	user    []byte // the caller's context, for ctx_out; nil when none
	buf     []byte // packet buffer storage
	ctxBuf  []byte
	userBuf []byte
	pkt     helpers.Packet
	frags   []byte // storage of pkt.Frags (multi-buffer XDP)
	out     []byte // storage of a multi-buffer DataOut
	// same: the last Prepare was an unobserved one without context, of
	// a packet of sameLen bytes, and succeeded.
	same    bool
	sameLen int
	// low and high bound the part of buf the last run may have written
	// (from the lowest metadata start to the highest end it reached).
	low, high int
}

// NewRun returns an empty, reusable run.
func NewRun() *Run {
	r := &Run{}
	r.pkt.Sync = r.sync
	return r
}

// Prepare builds the context of a test run of a program of type t.
func Prepare(t Type, req Request) (*Run, error) {
	r := NewRun()
	if err := r.Prepare(t, req); err != nil {
		return nil, err
	}
	return r, nil
}

// Prepare (re)builds r for a test run of a program of type t.
func (r *Run) Prepare(t Type, req Request) error {
	if req.Unobserved && req.WantContextOut {
		req.Unobserved = false // the context is an output
	}
	// The input checks depend only on the type, the packet's length and
	// the context (none here), and an unobserved run changes nothing: the
	// same request as the last one is already prepared.
	quick := req.Unobserved && req.Context == nil
	if quick && r.Prepared(t, len(req.Data)) {
		return nil
	}
	err := r.prepare(t, req)
	r.same, r.sameLen = quick && err == nil, len(req.Data)
	return err
}

// Prepared reports whether r is prepared for an unobserved request
// without context, of type t and an n-byte packet: Prepare would do
// nothing (a cheap check for the caller's fast path).
func (r *Run) Prepared(t Type, n int) bool { return r.same && r.typ == t && r.sameLen == n }

func (r *Run) prepare(t Type, req Request) error {
	r.typ, r.l, r.user, r.Packet, r.LDPacket, r.direct = t, nil, nil, nil, nil, false
	switch t {
	case SocketFilter, SchedCLS, SchedACT, CgroupSKB, LWTIn, LWTOut, LWTXmit:
		return r.prepareSKB(t, req)
	case XDP:
		return r.prepareXDP(req)
	case Kprobe, Tracepoint, RawTracepoint, RawTracepointWritable, PerfEvent, Syscall, Tracing, Unspec:
		if len(req.Data) != 0 {
			return fmt.Errorf("%w: %s programs take no packet data", ErrInvalidInput, t)
		}
		if req.Unobserved {
			r.ctxLen(len(req.Context))
			return nil
		}
		r.Ctx = append(r.ctxBuf[:0], req.Context...)
		r.ctxBuf = r.Ctx
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedType, t)
}

// packetBuf returns a buffer of n bytes holding data at offset at and
// zeros elsewhere, reusing storage: only the part the previous run may
// have dirtied is cleared, and of it only what data does not overwrite.
func (r *Run) packetBuf(n, at int, data []byte) []byte {
	end := at + len(data)
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	} else {
		full := r.buf[:cap(r.buf)]
		lo, hi := min(r.low, len(full)), min(r.high, len(full))
		if lo < hi {
			// [lo, hi) minus [at, end): up to two pieces.
			if lo < at {
				clear(full[lo:min(hi, at)])
			}
			if hi > end {
				clear(full[max(lo, end):hi])
			}
		}
		r.buf = full[:n]
	}
	copy(r.buf[at:end], data)
	r.low, r.high = n, 0
	return r.buf
}

// frame returns a buffer of n bytes for a run that writes nothing into it
// (Request.Unobserved): its content is left as it is, and so is the range
// earlier runs dirtied (cleared by the next packetBuf).
func (r *Run) frame(n int) []byte {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
		r.low, r.high = 0, 0 // fresh: nothing dirty
	}
	r.buf = r.buf[:n]
	return r.buf
}

// ctxLen sets Ctx to n bytes of context memory without clearing or
// filling it (Request.Unobserved).
func (r *Run) ctxLen(n int) {
	if cap(r.ctxBuf) < n {
		r.ctxBuf = make([]byte, n)
	}
	r.Ctx = r.ctxBuf[:n]
}

// ctxMem returns the zeroed context memory of n bytes.
func (r *Run) ctxMem(n int) []byte {
	if cap(r.ctxBuf) < n {
		r.ctxBuf = make([]byte, n)
	}
	r.Ctx = r.ctxBuf[:n]
	clear(r.Ctx)
	return r.Ctx
}

// userCtx returns the zeroed caller context of n bytes (for ctx_out).
func (r *Run) userCtx(n int) []byte {
	if cap(r.userBuf) < n {
		r.userBuf = make([]byte, n)
	}
	r.user = r.userBuf[:n]
	clear(r.user)
	return r.user
}

// sync writes the packet pointers into the context after a helper moved
// them, and widens the dirty range.
func (r *Run) sync() {
	p := &r.pkt
	r.low, r.high = min(r.low, p.Meta, p.Data), max(r.high, p.End)
	switch {
	case r.typ == XDP:
		r.setPtr(0, p.Addr(p.Data))
		r.setPtr(1, p.Addr(p.End))
		r.setPtr(2, p.Addr(p.Meta))
	case r.l == &skbLayout:
		if r.direct {
			r.setPtr(0, p.Addr(p.Data))
			r.setPtr(1, p.Addr(p.End))
			r.setPtr(2, p.Addr(p.Meta))
		}
		le := binary.LittleEndian
		le.PutUint32(r.Ctx[skbLen:], uint32(p.End-p.Data))
		// skb metadata the skb helpers change (vlan push/pop,
		// adjust_room): __be16 fields as stored.
		le.PutUint32(r.Ctx[skbProtocol:], uint32(p.Protocol>>8|p.Protocol<<8))
		le.PutUint32(r.Ctx[skbVlanPresent:], b2u(p.VlanProto != 0 || p.VlanTCI != 0))
		le.PutUint32(r.Ctx[skbVlanTCI:], uint32(p.VlanTCI))
		le.PutUint32(r.Ctx[skbVlanProto:], uint32(p.VlanProto>>8|p.VlanProto<<8))
	}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func (r *Run) setPtr(slot int, addr uint64) {
	binary.LittleEndian.PutUint64(r.Ctx[r.l.size+8*slot:], addr)
}

// Result is what a test run reports besides the return value. Its slices
// are views into the Run, valid until the Run is prepared again.
type Result struct {
	DataOut    []byte
	ContextOut []byte // nil when no context was given
}
