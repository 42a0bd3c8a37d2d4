// Package helpers implements eBPF helper functions by the kernel's numbers
// and semantics, on top of internal/maps and the engine.Env of a run.
//
// A Host describes what the embedding program provides (maps by handle,
// the trace writer, the clock, task facts, memory probe_read may read). A
// State is the per-VM helper state: it is reset before every run, records
// what the run asked for (redirects, a tail call) and binds the helper
// functions to that state without allocating per run.
package helpers

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// Task describes the "current task" the task helpers report.
type Task struct {
	PID, TGID uint32
	UID, GID  uint32
	Comm      string
	CgroupID  uint64
	// CgroupAncestors are the ids of the cgroups above CgroupID
	// (current_task_under_cgroup matches them too).
	CgroupAncestors []uint64
	// Pointer is what get_current_task{,_btf} return (0: none).
	Pointer uint64
	// KernelStack and UserStack are the instruction pointers, innermost
	// first, that bpf_get_stack and bpf_get_stackid report.
	KernelStack, UserStack []uint64
}

// MemoryRegion is host memory the probe_read helpers may read, at the
// address programs see it (Addr need not be Data's real address: it lets a
// host simulate a kernel address space).
type MemoryRegion struct {
	Addr uint64
	Data []byte
}

// Host is what the embedding program provides to helpers. It is shared by
// every VM of a runtime and must not change while programs run.
type Host struct {
	// Registry resolves map handles and program ids (tail calls).
	Registry *maps.Registry
	// NumCPU is the number of CPUs per-CPU maps hold values for.
	NumCPU int
	// Trace receives trace_printk / trace_vprintk output (nil: discarded).
	Trace io.Writer
	// Seed seeds get_prandom_u32 (each VM derives its own stream from it
	// and its CPU); 0 picks a seed from the clock.
	Seed uint64
	// Clock returns CLOCK_MONOTONIC-like nanoseconds (nil: time since the
	// process started, plus one second so it is never 0).
	Clock func() uint64
	// BootClock and TAIClock back ktime_get_boot_ns and ktime_get_tai_ns
	// (nil: Clock, and the wall clock in TAI).
	BootClock, TAIClock func() uint64
	// Task is the current task.
	Task Task
	// Memory is the host memory probe_read{,_kernel,_user}{,_str} read
	// besides the run's own memory.
	Memory []MemoryRegion
	// Routes answer bpf_fib_lookup.
	Routes []Route

	traceMu sync.Mutex
}

// nanotime is the runtime's CLOCK_MONOTONIC reading (what time.Since
// measures with), linked by name: it is one of the runtime functions kept
// for linkname because widely used packages read it this way.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// ktimeBase makes the default clock the time since the process started
// plus one second (never 0), as CLOCK_MONOTONIC minus a constant, so that
// engines can read CLOCK_MONOTONIC themselves and agree (KtimeBase).
var ktimeBase = nanotime() - int64(time.Second)

// KtimeBase returns the constant the default clock (Host.Clock nil)
// subtracts from CLOCK_MONOTONIC nanoseconds.
func KtimeBase() int64 { return ktimeBase }

func (h *Host) now() uint64 {
	if h.Clock != nil {
		return h.Clock()
	}
	return uint64(nanotime() - ktimeBase)
}

// RedirectInfo is what a redirect or redirect_map call asked for.
type RedirectInfo struct {
	Set     bool
	Ifindex uint32   // redirect: the target interface
	Map     maps.Map // redirect_map: the map (nil for redirect)
	Key     uint32   // redirect_map: the key
	Flags   uint64
}

// Packet is the packet of a networking run, shared with the program-type
// code that built the context: helpers that move data (adjust_head,
// adjust_tail, ...) change the offsets and call Sync.
type Packet struct {
	// Buf is the whole buffer (headroom, packet, tailroom); the program
	// can address all of it.
	Buf []byte
	// Data, End and Meta are offsets in Buf of the packet's first byte,
	// one past its last byte and the start of its metadata; Net is the
	// network header's offset (skb only).
	Data, End, Meta, Net int
	// MinData and MaxEnd bound Data and End for the adjust helpers.
	MinData, MaxEnd int
	// Sync writes the new pointers into the context after a helper moved
	// them.
	Sync func()
	// XDP is set for XDP runs (xdp_* helpers), else it is an skb.
	XDP bool
	// Protocol is skb->protocol (host order: 0x0800 for IPv4), and
	// Encapsulated skb->encapsulation (set by an encapsulating
	// skb_adjust_room).
	Protocol     uint16
	Encapsulated bool
	// SocketCookie is the cookie of the run's socket (0: none given
	// yet; get_socket_cookie assigns one, as the kernel gives each
	// test-run skb a fresh socket).
	SocketCookie uint64
	// Frags is the rest of a multi-buffer XDP packet, after the linear
	// part Buf[Data:End]: the kernel's fragments (skb_shared_info frags),
	// pages of FragSize bytes but the last, laid end to end. Programs
	// reach it only through helpers (xdp_load_bytes, xdp_get_buff_len,
	// ...). Empty: a linear packet.
	Frags []byte
	// VlanProto and VlanTCI are the skb's offloaded VLAN tag
	// (skb->vlan_proto, host order, and skb->vlan_tci; both 0: none).
	VlanProto, VlanTCI uint16
}

// Bytes returns the packet data (the linear part of a multi-buffer
// packet).
func (p *Packet) Bytes() []byte { return p.Buf[p.Data:p.End] }

// FragSize is the size of an XDP fragment (a page, as in the kernel's
// test run).
const FragSize = 4096

// Len is the packet's length, fragments included (xdp_get_buff_len).
func (p *Packet) Len() int { return p.End - p.Data + len(p.Frags) }

// span returns the n bytes at offset off of the packet (fragments
// included) as the linear part's and the fragments' pieces. The caller
// has checked off+n <= Len().
func (p *Packet) span(off, n int) (lin, frag []byte) {
	l := p.End - p.Data
	if off < l {
		lin = p.Buf[p.Data+off : p.Data+min(off+n, l)]
		n -= len(lin)
		off = l
	}
	if n > 0 {
		frag = p.Frags[off-l : off-l+n]
	}
	return lin, frag
}

// Addr returns the program address of offset off of the buffer.
func (p *Packet) Addr(off int) uint64 { return addrOf(p.Buf) + uint64(off) }

// TailCallRequest is the error a run ends with when tail_call succeeded: the
// runner starts Program with the same context.
type TailCallRequest struct{ Program any }

func (t *TailCallRequest) Error() string { return "tail call" }

// MaxTailCalls is MAX_TAIL_CALL_CNT: tail calls one run may chain.
const MaxTailCalls = 33

// State is the helper state of one VM. It is not safe for concurrent use:
// each VM (each goroutine) has its own.
type State struct {
	Host *Host
	// CPU is the CPU the runs of this state report (and the per-CPU map
	// values they use).
	CPU int
	// Packet is the current run's packet, or nil.
	Packet *Packet
	// Redirect records the last redirect of the run.
	Redirect RedirectInfo
	// TailCalls counts tail calls taken in the current run.
	TailCalls int
	// AttachCookie and FuncIP are what bpf_get_attach_cookie and
	// bpf_get_func_ip return in the current run: the cookie of the
	// attachment the program runs from and the address of the function
	// it is attached to (0: none, as a test run in the kernel).
	AttachCookie, FuncIP uint64

	rng     uint64
	run     uint64   // counts runs (Reset), from 1: tags per-run caches
	added   []uint64 // regions added this run (to skip duplicates)
	records []record // ring buffer records reserved this run
	keyBuf  []byte   // for_each_map_elem keys
	locks   []*sync.Mutex
	helpers engine.Helpers
	maps    mapCache
}

type record struct {
	addr uint64
	rb   maps.RingBuffer
}

// NewState returns the helper state of one VM running on cpu.
func NewState(host *Host, cpu int) *State {
	seed := host.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	s := &State{Host: host, CPU: cpu, rng: seed ^ uint64(cpu+1)*0x9e3779b97f4a7c15, run: 1}
	s.helpers = s.build()
	return s
}

// Helpers returns the helper functions bound to s.
func (s *State) Helpers() engine.Helpers { return s.helpers }

// Reset prepares s for a new run.
func (s *State) Reset() {
	s.run++
	s.Packet = nil
	if s.Redirect.Set { // every redirect sets Set
		s.Redirect = RedirectInfo{}
	}
	s.TailCalls = 0
	if s.AttachCookie|s.FuncIP != 0 {
		s.AttachCookie, s.FuncIP = 0, 0
	}
	s.added = s.added[:0]
	s.records = s.records[:0]
	if len(s.locks) > 0 {
		for _, l := range s.locks {
			l.Unlock() // a run that ended holding a lock releases it
		}
		s.locks = s.locks[:0]
	}
}

// EndRun discards the ring buffer records the run reserved and neither
// submitted nor discarded (possible only when a run fails), so they do not
// block the ring's consumer forever.
func (s *State) EndRun() {
	if len(s.records) == 0 {
		return
	}
	for _, r := range s.records {
		r.rb.Commit(r.addr, true, 0)
	}
	s.records = s.records[:0]
}

func addrOf(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// expose makes b accessible to the program (once per run) and returns its
// address.
func (s *State) expose(env engine.Env, b []byte, writable bool) uint64 {
	a := addrOf(b)
	for _, x := range s.added {
		if x == a {
			return a
		}
	}
	if len(s.added) < 4096 {
		s.added = append(s.added, a)
	}
	env.AddRegion(b, writable)
	return a
}

// funcBase tags bpf function pointers (lddw with BPF_PSEUDO_FUNC, rewritten
// by the loader): the low 32 bits are the instruction index.
const funcBase uint64 = 0xbfe0_0000_0000_0000

// FuncPointer is the value the loader gives a function pointer to the bpf
// function at instruction pc.
func FuncPointer(pc int) uint64 { return funcBase | uint64(uint32(pc)) }

func funcPC(v uint64) (int, error) {
	if v&^0xffff_ffff != funcBase {
		return 0, fmt.Errorf("%#x is not a bpf function pointer", v)
	}
	return int(uint32(v)), nil
}

// errno returns the helper return value -e.
func errno(e maps.Errno) uint64 { return uint64(-int64(e)) }

// errBadMap is returned (as a run failure) when a map argument is not a
// map: the verifier would have refused the program.
var errBadMap = errors.New("argument is not a map pointer")

func (s *State) mapArg(v uint64) (maps.Map, error) {
	if s.Host.Registry == nil {
		return nil, errBadMap
	}
	m, err := s.Host.Registry.MapByHandle(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadMap, err)
	}
	return m, nil
}
