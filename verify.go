package bpfvm

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/loader"
	"github.com/bpfvm/bpfvm/internal/maps"
	"github.com/bpfvm/bpfvm/internal/progtype"
	"github.com/bpfvm/bpfvm/internal/verifier"
)

// VerifierError is the verifier's rejection of a program: the instruction,
// a plain reason, the source line (from BTF line info), the abstract state
// there and the branches that led to it. LoadCollection's error wraps it:
//
//	var ve *bpfvm.VerifierError
//	if errors.As(err, &ve) {
//		fmt.Print(ve.Detail())
//	}
type VerifierError = verifier.Error

// The kinds of rejection (VerifierError.Kind).
const (
	// VerifierUnsafe: the program could break memory or type safety.
	VerifierUnsafe = verifier.KindUnsafe
	// VerifierInvalid: the program is malformed.
	VerifierInvalid = verifier.KindInvalid
	// VerifierLimit: the analysis hit a complexity limit.
	VerifierLimit = verifier.KindLimit
	// VerifierUnsupported: the program uses something the verifier does
	// not handle yet; it is not necessarily unsafe (WithoutVerifier runs
	// it with every runtime check on).
	VerifierUnsupported = verifier.KindUnsupported
)

// WithoutVerifier loads programs without verifying them. They run with
// every runtime check on (each memory access is checked against what the
// run may touch, on either engine) and within the instruction budget, so
// an unsafe program fails its run instead of its load: for programs the
// verifier cannot analyse (host helpers, program types it lacks) and for
// instruction-set testing.
func WithoutVerifier() Option { return func(r *Runtime) { r.unverified = true } }

// verifierProgTypes maps program types to the verifier's names; a type
// missing here cannot be verified.
var verifierProgTypes = map[progtype.Type]string{
	progtype.SocketFilter: "socket_filter", progtype.Kprobe: "kprobe", progtype.SchedCLS: "sched_cls",
	progtype.SchedACT: "sched_act", progtype.Tracepoint: "tracepoint", progtype.XDP: "xdp",
	progtype.PerfEvent: "perf_event", progtype.CgroupSKB: "cgroup_skb", progtype.CgroupSock: "cgroup_sock",
	progtype.LWTIn: "lwt_in", progtype.LWTOut: "lwt_out", progtype.LWTXmit: "lwt_xmit",
	progtype.SkSKB: "sk_skb", progtype.CgroupDevice: "cgroup_device", progtype.SkMsg: "sk_msg",
	progtype.RawTracepoint: "raw_tp", progtype.CgroupSockAddr: "cgroup_sock_addr",
	progtype.SkReuseport: "sk_reuseport", progtype.SkLookup: "sk_lookup", progtype.Syscall: "syscall",
}

// fixedContext reports whether every run of a program of type t gets a
// context at least as large as the one the verifier checks accesses
// against (bpfvm builds it), so accesses proven in bounds stay in bounds.
// Tracing types take the caller's context bytes, of any length, so their
// proofs cannot be trusted to drop runtime checks.
func fixedContext(t progtype.Type) bool {
	switch t {
	case progtype.SocketFilter, progtype.SchedCLS, progtype.SchedACT, progtype.CgroupSKB,
		progtype.LWTIn, progtype.LWTOut, progtype.LWTXmit, progtype.XDP:
		return true
	}
	return false
}

// verifierMap describes a created map to the verifier.
func verifierMap(s maps.Spec) *verifier.Map {
	m := &verifier.Map{Name: s.Name, Type: s.Type.String(), KeySize: s.KeySize, ValueSize: s.ValueSize,
		MaxEntries: s.MaxEntries, Flags: s.Flags}
	if s.InnerMap != nil {
		m.Inner = verifierMap(*s.InnerMap)
	}
	if s.SpinLockOffset >= 0 {
		m.HasSpinLock, m.SpinLockOffset = true, uint32(s.SpinLockOffset)
	}
	return m
}

// verifyProgram verifies a linked program once, with its type, its maps
// as created and its source lines. It returns the accesses proven in
// bounds (one bit per slot of linked.Insns; nil when the runtime checks
// must all stay), or an error wrapping the *VerifierError.
func (r *Runtime) verifyProgram(c *Collection, ps *ebpf.ProgramSpec, linked *loader.Linked) ([]uint64, error) {
	if r.unverified {
		return nil, nil
	}
	typ := progtype.Type(ps.Type)
	name, ok := verifierProgTypes[typ]
	if !ok {
		return nil, fmt.Errorf("program %s: %w", ps.Name, &VerifierError{Kind: VerifierUnsupported, Index: -1,
			Reason: fmt.Sprintf("the verifier does not support %s programs (WithoutVerifier runs them with runtime checks)", typ)})
	}
	if err := r.checkHostHelpers(ps.Name, linked.Verify); err != nil {
		return nil, err
	}
	cfg := verifier.Config{ProgType: name, ExpectedAttachType: uint32(ps.AttachType), Flags: ps.Flags}
	for _, n := range linked.VerifyMaps {
		m, ok := c.Maps[n]
		if !ok {
			return nil, fmt.Errorf("program %s: no map %q", ps.Name, n)
		}
		cfg.Maps = append(cfg.Maps, verifierMap(m.m.Spec()))
	}
	cfg.LineInfo = map[int]string{}
	for i, l := range linked.Lines {
		// Only where a line starts: the verifier takes the nearest one
		// at or before an instruction.
		if l != "" && (i == 0 || linked.Lines[i-1] != l) {
			cfg.LineInfo[i] = l
		}
	}
	res, err := verifier.Verify(linked.Verify, cfg)
	if err != nil {
		return nil, fmt.Errorf("program %s: verifier: %w", ps.Name, err)
	}
	if !fixedContext(typ) {
		return nil, nil
	}
	return provenBits(res.Facts), nil
}

// provenBits turns the verifier's facts into the JIT's bitset of accesses
// that run without a bounds check.
func provenBits(facts []verifier.Fact) []uint64 {
	bits := make([]uint64, (len(facts)+63)/64)
	for i, f := range facts {
		if f&verifier.FactMemSafe != 0 {
			bits[i/64] |= 1 << (i % 64)
		}
	}
	return bits
}

// checkHostHelpers refuses, with a useful message, programs that call a
// helper the host registered: the verifier cannot know what it takes and
// returns.
func (r *Runtime) checkHostHelpers(prog string, insns []isa.Instruction) error {
	if len(r.hostHelpers) == 0 {
		return nil
	}
	for i, in := range insns {
		if in.Opcode == isa.OpcodeCall && in.Src == 0 {
			if _, ok := r.hostHelpers[in.Imm]; ok {
				return fmt.Errorf("program %s: %w", prog, &VerifierError{Kind: VerifierUnsupported, Index: i, Insn: in.String(),
					Reason: fmt.Sprintf("call of host helper %#x, which the verifier has no prototype for (load with WithoutVerifier to run it with runtime checks)", in.Imm)})
			}
		}
	}
	return nil
}
