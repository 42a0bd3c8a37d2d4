// Package bpfvm runs eBPF programs in user space with the Linux kernel's
// semantics, behind an API shaped like github.com/cilium/ebpf: a test
// written against the kernel moves to bpfvm by changing its loader line.
//
//	spec, _ := ebpf.LoadCollectionSpec("xdp.o")
//	rt := bpfvm.NewRuntime()
//	coll, err := rt.LoadCollection(spec)
//	ret, err := coll.Programs["xdp_filter"].Run(&bpfvm.RunOptions{Data: pkt})
//	var n uint64
//	err = coll.Maps["counters"].Lookup(uint32(0), &n)
//
// Every program is verified once when it loads, as the kernel's verifier
// would (a rejection wraps a *VerifierError); the JIT runs the accesses
// the verifier proved in bounds without a check. WithoutVerifier runs
// programs unverified, with every access checked at run time.
//
// Maps have the kernel's semantics (types, flags, errors); helpers are the
// kernel's by number; program types get their contexts built the way
// BPF_PROG_TEST_RUN builds them. No root, no kernel, any OS.
package bpfvm

import (
	"io"
	"net/netip"
	"runtime"
	"sync"

	"github.com/cilium/ebpf/btf"

	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/jit"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// Runtime holds what collections loaded into it share: the id space of
// maps and programs (so tail calls and map-in-map work across
// collections), the host facts helpers report and the trace output.
type Runtime struct {
	host     *helpers.Host
	registry *maps.Registry
	numCPU   int
	mu       sync.Mutex
	pinned   map[string]*Map
	budget   uint64
	// coreTargets resolve CO-RE relocations (nil: the object's BTF).
	coreTargets []*btf.Spec
	hostHelpers map[int32]HelperFunc
	engine      jit.Kind
	// unverified: programs load without the verifier (WithoutVerifier).
	unverified bool
	// kconfig holds WithKconfig's values; noHostKconfig ignores the host's.
	kconfig       map[string]string
	noHostKconfig bool
	// progTypes are WithProgramType's types, by program name.
	progTypes map[string]ProgramType
	// redirectRx holds the redirect receivers, by map id.
	redirectRx sync.Map
}

// Engine names an execution engine.
type Engine = jit.Kind

// The engines: the interpreter (the default, the reference semantics) and
// the amd64 JIT (linux/amd64; elsewhere programs fall back to the
// interpreter).
const (
	Interpreter Engine = jit.Interpreter
	JIT         Engine = jit.JIT
)

// WithEngine selects the engine programs run on.
func WithEngine(e Engine) Option { return func(r *Runtime) { r.engine = e } }

// WithKernelTypes resolves CO-RE relocations against spec (for instance
// btf.LoadKernelSpec(), the running kernel's /sys/kernel/btf/vmlinux, or
// any BTF file) instead of the object's own types: what programs that read
// kernel structures need.
func WithKernelTypes(spec *btf.Spec) Option {
	return func(r *Runtime) { r.coreTargets = append(r.coreTargets, spec) }
}

// WithInstructionBudget bounds the instructions one run may execute
// (default 10 million): a run that exceeds it fails.
func WithInstructionBudget(n uint64) Option { return func(r *Runtime) { r.budget = n } }

// Option configures a Runtime.
type Option func(*Runtime)

// WithTraceOutput sends bpf_trace_printk / bpf_printk output to w
// (default: discarded).
func WithTraceOutput(w io.Writer) Option { return func(r *Runtime) { r.host.Trace = w } }

// WithNumCPU sets the number of CPUs per-CPU maps hold values for and
// PERF_EVENT_ARRAY maps default to (default: runtime.NumCPU()).
func WithNumCPU(n int) Option {
	return func(r *Runtime) {
		if n > 0 {
			r.numCPU = n
		}
	}
}

// WithRandomSeed makes bpf_get_prandom_u32 reproducible.
func WithRandomSeed(seed uint64) Option { return func(r *Runtime) { r.host.Seed = seed } }

// WithClock replaces the clock of bpf_ktime_get_ns and its relatives
// (nanoseconds, CLOCK_MONOTONIC-like).
func WithClock(now func() uint64) Option { return func(r *Runtime) { r.host.Clock = now } }

// Task describes the "current task" helpers such as
// bpf_get_current_pid_tgid and bpf_get_current_comm report.
type Task struct {
	PID, TGID uint32
	UID, GID  uint32
	Comm      string
	CgroupID  uint64
	// CgroupAncestors are the ids of the cgroups above CgroupID.
	CgroupAncestors []uint64
	// KernelStack and UserStack are the instruction pointers (innermost
	// first) bpf_get_stack and bpf_get_stackid report.
	KernelStack, UserStack []uint64
}

// WithTask sets the current task.
func WithTask(t Task) Option {
	return func(r *Runtime) {
		r.host.Task = helpers.Task{PID: t.PID, TGID: t.TGID, UID: t.UID, GID: t.GID, Comm: t.Comm, CgroupID: t.CgroupID,
			CgroupAncestors: t.CgroupAncestors,
			KernelStack:     t.KernelStack, UserStack: t.UserStack}
	}
}

// WithHostMemory exposes data at address addr to bpf_probe_read_kernel
// and its relatives (a simulated kernel address space).
func WithHostMemory(addr uint64, data []byte) Option {
	return func(r *Runtime) {
		r.host.Memory = append(r.host.Memory, helpers.MemoryRegion{Addr: addr, Data: data})
	}
}

// NewRuntime returns a runtime.
func NewRuntime(opts ...Option) *Runtime {
	reg := maps.NewRegistry()
	r := &Runtime{
		host:     &helpers.Host{Registry: reg},
		registry: reg,
		numCPU:   runtime.NumCPU(),
		pinned:   map[string]*Map{},
	}
	for _, o := range opts {
		o(r)
	}
	r.host.NumCPU = r.numCPU
	return r
}

// NumCPU returns the number of CPUs the runtime simulates.
func (r *Runtime) NumCPU() int { return r.numCPU }

// Route is an entry of the routing table bpf_fib_lookup consults.
type Route struct {
	Prefix  netip.Prefix
	Ifindex uint32     // egress interface
	Gateway netip.Addr // next hop (zero: directly connected)
	SrcMAC  [6]byte    // the egress interface's address
	DstMAC  [6]byte    // the next hop's address (zero: no neighbour entry)
	MTU     uint16     // 0: no limit
	// Blackhole, Unreachable and Prohibit answer with the kernel's
	// matching result instead of forwarding.
	Blackhole, Unreachable, Prohibit bool
}

// WithRoutes gives bpf_fib_lookup a routing table (longest prefix match
// on the destination).
func WithRoutes(routes ...Route) Option {
	return func(r *Runtime) {
		for _, rt := range routes {
			r.host.Routes = append(r.host.Routes, helpers.Route(rt))
		}
	}
}
