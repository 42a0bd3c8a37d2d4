// Package verifier decides statically whether an eBPF program is safe to
// run, the way the Linux kernel's verifier does (kernel/bpf/verifier.c,
// privileged profile): path-sensitive abstract interpretation over
// register types, tnums and signed/unsigned 32- and 64-bit ranges, stack
// slot tracking, packet ranges proven by comparisons with data_end, null
// checks of lookup results, helper prototypes, context access tables, and
// state pruning, within the kernel's limit of one million processed
// instructions.
//
// A rejection is a *Error naming the instruction, the reason with a hint,
// the abstract state there and the branch decisions that led to it; its
// Kind tells an unsafe program from one bpfvm does not support yet.
//
// # How it follows the kernel
//
// Static checks first (opcodes, lddw pairs, jump targets, functions that
// end in exit or a jump, unreachable code, call depth), then a depth-first
// walk of every path. Field checks the kernel makes only on reachable
// paths (reserved fields, writes to r10, division by a constant zero) are
// made there too, so dead branches may hold them. Pruning compares a state
// with the stored states at the kernel's pruning points using its regsafe
// and stacksafe rules, with register liveness from a static backward
// analysis.
//
// # Deliberate differences
//
//   - Every scalar counts as precise (no precision backtracking): pruning
//     is more conservative than the kernel's, which can only cost
//     processed instructions, never soundness.
//   - The tables of helper prototypes (helpers.go) and context layouts
//     (context.go) cover the program types and helpers the kernel's
//     selftests use most; anything else is rejected as KindUnsupported.
//   - Callbacks (bpf_loop, for_each_map_elem) are verified as the kernel
//     does: the helper may return at once or call the callback (r0 in
//     [0, 1]) again and again until the state at the call repeats;
//     bpf_loop explores at most nr_loops iterations. Past 64 iterations
//     bpfvm widens the scalars that keep changing to unknown (the kernel
//     relies on precision tracking instead), which can only reject more.
//   - bpf_spin_lock needs Map.HasSpinLock (from the value's BTF): one lock
//     at a time, no calls while held, released before exit, and the lock
//     field is out of reach of loads and stores.
//   - bpf_snprintf's format string must be in a read-only map value; its
//     NUL termination is left to the helper (no map contents here).
//   - Timers, kfuncs, BTF-typed pointers, dynptrs, iterators and global
//     functions are unsupported.
//   - ObjectPrograms prepares the programs of an ELF object (linked as the
//     runtime links them, with BTF line info for the diagnostics).
//   - ProgType "mem" is bpfvm's own: r1 points to Config.MemSize bytes of
//     memory and r2 holds their number (interp.VM.Run's contract).
package verifier

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// Map describes a map a program refers to with lddw.
type Map struct {
	Name       string
	Type       string // kernel map type name: hash, array, prog_array, ringbuf, ...
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	Inner      *Map // inner map of array_of_maps / hash_of_maps
	// FD is the number a BPF_PSEUDO_MAP_FD lddw carries in its immediate
	// to refer to this map. BPF_PSEUDO_MAP_IDX refers to Config.Maps by index.
	FD int32
	// HasSpinLock says the value holds a struct bpf_spin_lock at
	// SpinLockOffset (from the map's BTF value type): bpf_spin_lock
	// takes only that field, and loads and stores may not touch it.
	HasSpinLock    bool
	SpinLockOffset uint32
}

// Map flags the verifier cares about.
const (
	MapFlagRdonlyProg = 1 << 7 // BPF_F_RDONLY_PROG
	MapFlagWronlyProg = 1 << 8 // BPF_F_WRONLY_PROG
)

// Program load flags (BPF_PROG_LOAD prog_flags) the verifier honours.
const (
	FlagStrictAlignment = 1 << 0
	FlagAnyAlignment    = 1 << 1
)

// Config says how to verify a program.
type Config struct {
	// ProgType is the kernel program type name (socket_filter, sched_cls,
	// xdp, tracepoint, raw_tp, kprobe, cgroup_skb, ...).
	ProgType string
	// ExpectedAttachType is the numeric enum bpf_attach_type, when needed.
	ExpectedAttachType uint32
	// MemSize is the size of the memory r1 points to for ProgType "mem".
	MemSize uint32
	// Flags are BPF_PROG_LOAD prog_flags (FlagStrictAlignment, ...).
	Flags uint32
	// Maps the program's lddw instructions refer to.
	Maps []*Map
	// LineInfo maps instruction slots to source lines (from BTF line
	// info, when the loader has it); rejections quote the line.
	LineInfo map[int]string
	// Log receives a kernel-style per-instruction state log when LogLevel
	// is at least 1 (level 2 also prints every state at every instruction).
	Log      io.Writer
	LogLevel int
	// MaxProcessed bounds the instructions the analysis may process
	// (0 = 1,000,000, the kernel's BPF_COMPLEXITY_LIMIT_INSNS).
	MaxProcessed int
}

// Fact is what the verifier proved about one instruction, for the JIT.
type Fact uint8

const (
	// FactReached: some path reaches the instruction.
	FactReached Fact = 1 << iota
	// FactMemSafe: a load/store was proven in bounds on every path (the
	// JIT may drop its runtime check). Unset where any path was unproven.
	FactMemSafe
	// FactBranchTaken / FactBranchNotTaken: a conditional jump was
	// taken / fell through on some path; a jump with only one of the two
	// has a dead side.
	FactBranchTaken
	FactBranchNotTaken
	factMemUnsafe // internal: some path could not be proven
)

// Stats are the analysis statistics, as the kernel prints them.
type Stats struct {
	Processed        int // instructions processed (the complexity measure)
	TotalStates      int // states stored for pruning
	PeakStates       int
	MaxStatesPerInsn int
	StackDepth       []int // per subprogram, bytes
	Duration         time.Duration
	evicted          int
}

func (s Stats) String() string {
	depths := make([]string, len(s.StackDepth))
	for i, d := range s.StackDepth {
		depths[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("verification time %d usec\nstack depth %s\nprocessed %d insns (limit 1000000) max_states_per_insn %d total_states %d peak_states %d",
		s.Duration.Microseconds(), strings.Join(depths, "+"), s.Processed, s.MaxStatesPerInsn, s.TotalStates, s.PeakStates)
}

// Result is what an accepted program's analysis proved.
type Result struct {
	Facts []Fact // one per instruction slot
	Stats Stats
}

// Kind classifies a rejection.
type Kind int

const (
	// KindUnsafe: the program could violate memory or type safety (or the
	// kernel's rules) on some path.
	KindUnsafe Kind = iota
	// KindInvalid: the program is malformed (bad encoding, bad jumps,
	// unreachable code).
	KindInvalid
	// KindLimit: the analysis hit a complexity limit.
	KindLimit
	// KindUnsupported: the program uses something bpfvm does not
	// implement yet; it is not necessarily unsafe.
	KindUnsupported
)

func (k Kind) String() string {
	switch k {
	case KindUnsafe:
		return "unsafe"
	case KindInvalid:
		return "invalid"
	case KindLimit:
		return "too complex"
	case KindUnsupported:
		return "unsupported by bpfvm"
	}
	return "?"
}

// Branch is one conditional jump decision on the path to a rejection.
type Branch struct {
	Index int  // the jump instruction
	Taken bool // whether the jump was taken
}

// Error is a rejection.
type Error struct {
	Kind   Kind
	Index  int    // instruction slot (-1: the program as a whole)
	Insn   string // its disassembly
	Reason string // one plain sentence, with a hint where one helps
	Line   string // the source line of the instruction, when line info exists
	State  string // registers and stack where the check failed
	Path   []Branch
	Stats  Stats
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Index >= 0 {
		fmt.Fprintf(&b, "instruction %d (%s): ", e.Index, e.Insn)
	}
	b.WriteString(e.Reason)
	if e.Kind == KindUnsupported {
		b.WriteString(" (unsupported by bpfvm)")
	}
	return b.String()
}

// Detail returns the full diagnostic: reason, state and path.
func (e *Error) Detail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", e.Kind, e.Error())
	if e.Line != "" {
		fmt.Fprintf(&b, "source: %s\n", e.Line)
	}
	if e.State != "" {
		fmt.Fprintf(&b, "state: %s\n", e.State)
	}
	if len(e.Path) > 0 {
		b.WriteString("path:")
		for _, br := range e.Path {
			t := "fell through"
			if br.Taken {
				t = "taken"
			}
			fmt.Fprintf(&b, " %d:%s", br.Index, t)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Verify analyses a program. It returns the proven facts, or a *Error.
func Verify(insns []isa.Instruction, cfg Config) (res *Result, err error) {
	start := time.Now()
	v := &verifier{insns: insns, cfg: cfg}
	defer func() {
		// A bug in the analysis must never take the caller down: report it
		// as a rejection (never as an acceptance).
		if r := recover(); r != nil {
			res = nil
			err = &Error{Kind: KindUnsupported, Index: v.idx, Insn: v.insnString(v.idx), Reason: fmt.Sprintf("internal verifier error: %v", r)}
		}
	}()
	err = v.run()
	v.stats.Duration = time.Since(start)
	v.stats.StackDepth = v.depth
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.Stats = v.stats
			if e.Index >= 0 && e.Line == "" {
				// The nearest line at or before the instruction, as the
				// kernel's verbose_linfo does.
				for i := e.Index; i >= 0; i-- {
					if l, ok := cfg.LineInfo[i]; ok {
						e.Line = l
						break
					}
				}
			}
		}
		return nil, err
	}
	return &Result{Facts: v.facts, Stats: v.stats}, nil
}
