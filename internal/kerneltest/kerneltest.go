// Package kerneltest runs eBPF programs in the Linux kernel, the oracle
// bpfvm's engines are tested against.
//
// Programs are given as isa instructions, loaded with BPF_PROG_LOAD through
// github.com/cilium/ebpf, and run with BPF_PROG_TEST_RUN:
//
//	func TestSomething(t *testing.T) {
//		kerneltest.Require(t) // skips where bpf() is unavailable
//		ret, out, _, err := kerneltest.RunXDP(insns, packet, 1)
//		...
//	}
//
// Programs that use maps create them with ebpf.NewMap and put the map's file
// descriptor in the immediate of an lddw with source isa.PseudoMapFD, exactly
// as raw bytecode does; the map must stay open until the program is loaded.
//
// The package compiles on every operating system; there, Available reports
// why the kernel cannot be used and Require skips.
package kerneltest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// ErrUnavailable is wrapped by the errors of Available and of every
// function that needs the kernel when the kernel cannot load or run
// programs here.
var ErrUnavailable = errors.New("kernel bpf() unavailable")

var probe struct {
	once sync.Once
	err  error
}

// Available returns nil when this process can load and test-run programs
// in the kernel (BPF_PROG_LOAD and BPF_PROG_TEST_RUN work); otherwise an
// error, wrapping ErrUnavailable, that says why. The probe runs once and its
// result is cached.
func Available() error {
	probe.once.Do(func() { probe.err = doProbe() })
	return probe.err
}

func doProbe() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: bpf() is a Linux system call and this is %s", ErrUnavailable, runtime.GOOS)
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones
	// use memory cgroups and RemoveMemlock does nothing. Its failure
	// (typically EPERM without privileges) matters only if loading fails
	// too, and then the load's error is the better explanation.
	memlockNote := ""
	if err := rlimit.RemoveMemlock(); err != nil {
		memlockNote = fmt.Sprintf(" (raising RLIMIT_MEMLOCK failed too: %v)", err)
	}
	// XDP_TX, a value no kernel returns by accident.
	const want = 3
	insns := []isa.Instruction{
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: want},
		{Opcode: isa.OpcodeExit},
	}
	p, err := load(ebpf.XDP, insns)
	if err != nil {
		return fmt.Errorf("%w: loading a trivial XDP program: %v%s", ErrUnavailable, err, memlockNote)
	}
	defer p.Close()
	res, err := p.run(RunInput{Data: make([]byte, 64), Repeat: 1})
	if err != nil {
		return fmt.Errorf("%w: BPF_PROG_TEST_RUN of a trivial XDP program: %v", ErrUnavailable, err)
	}
	if res.Retval != want {
		return fmt.Errorf("%w: a trivial XDP program returned %d, want %d", ErrUnavailable, res.Retval, want)
	}
	return nil
}

// Require skips the test when the kernel cannot load and run programs here.
func Require(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		tb.Skipf("kernel bpf() unavailable: %v", err)
	}
}

// LoadError is returned when the kernel refuses a program. Log holds the
// verifier's complete log (empty when the failure came before the verifier).
type LoadError struct {
	Type ebpf.ProgramType
	Err  error
	Log  string
}

func (e *LoadError) Error() string {
	if e.Log == "" {
		return fmt.Sprintf("kernel refused the %s program: %v", e.Type, e.Err)
	}
	return fmt.Sprintf("kernel refused the %s program: %v\nverifier log:\n%s", e.Type, e.Err, e.Log)
}

func (e *LoadError) Unwrap() error { return e.Err }

// Program is a program loaded into the kernel. Close it when done.
type Program struct {
	prog *ebpf.Program
	typ  ebpf.ProgramType
}

// Load loads insns into the kernel as a program of the given type, with a
// GPL license (so every helper is allowed) and the privileged verifier
// profile of the current process. A refusal is a *LoadError carrying the
// verifier log. Load blocks until the verifier is done, which for rare
// programs (see progen's notes on kernel verifier bugs) can take minutes.
func Load(typ ebpf.ProgramType, insns []isa.Instruction) (*Program, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	return load(typ, insns)
}

func load(typ ebpf.ProgramType, insns []isa.Instruction) (*Program, error) {
	if len(insns) == 0 {
		return nil, errors.New("kerneltest: the program has no instructions")
	}
	spec := &ebpf.ProgramSpec{
		Type:    typ,
		License: "GPL",
	}
	var err error
	// "linux": helper ids are Linux helper ids, whatever the host OS.
	spec.Instructions, err = asm.AppendInstructions(nil, bytes.NewReader(isa.Encode(insns)), binary.LittleEndian, "linux")
	if err != nil {
		return nil, fmt.Errorf("kerneltest: cilium/ebpf cannot decode the program: %w", err)
	}
	prog, err := ebpf.NewProgramWithOptions(spec, ebpf.ProgramOptions{
		// Large enough for the logs of the programs tests generate, so the
		// load is not retried to grow the buffer.
		LogSizeStart: 1 << 20,
	})
	if err != nil {
		le := &LoadError{Type: typ, Err: err}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			le.Err = ve.Cause
			le.Log = strings.Join(ve.Log, "\n")
		}
		return nil, le
	}
	return &Program{prog: prog, typ: typ}, nil
}

// Close releases the program.
func (p *Program) Close() error { return p.prog.Close() }

// FD returns the program's file descriptor.
func (p *Program) FD() int { return p.prog.FD() }

// Type returns the program type the program was loaded as.
func (p *Program) Type() ebpf.ProgramType { return p.typ }

// RunInput is the input of one BPF_PROG_TEST_RUN.
type RunInput struct {
	// Data is the packet. XDP and skb-based program types need at least 14
	// bytes (an Ethernet header).
	Data []byte
	// Context, if not nil, is the program's context in its uapi layout
	// (struct xdp_md, struct __sk_buff, ...); the kernel accepts only some
	// fields as input.
	Context []byte
	// Repeat is how many times the kernel runs the program (0 means 1).
	Repeat int
}

// Result is the outcome of a test run.
type Result struct {
	Retval   uint32        // the program's return value (the low 32 bits of r0)
	Data     []byte        // the packet after the (last) run
	Context  []byte        // the context after the run, when one was passed in: the kernel's whole structure
	Duration time.Duration // mean time of one run, as the kernel measured it
}

// Run test-runs the program.
func (p *Program) Run(in RunInput) (Result, error) {
	if in.Repeat < 0 || uint64(in.Repeat) > 1<<32-1 {
		return Result{}, fmt.Errorf("kerneltest: repeat %d out of range", in.Repeat)
	}
	res, err := p.run(in)
	if err != nil {
		return Result{}, fmt.Errorf("kerneltest: running the %s program: %w", p.typ, err)
	}
	return res, nil
}

// RunXDP loads insns as an XDP program, runs it repeat times on data and
// returns its return value, the packet after the run and the mean duration
// of one run. The program sees data as the packet from ctx->data to
// ctx->data_end.
func RunXDP(insns []isa.Instruction, data []byte, repeat int) (retval uint32, dataOut []byte, duration time.Duration, err error) {
	return loadAndRun(ebpf.XDP, insns, data, repeat)
}

// RunSocketFilter is RunXDP for a SOCKET_FILTER program. The kernel treats
// data as an Ethernet frame and removes the 14-byte header before the run:
// the program's skb (and LD_ABS/LD_IND) starts at data[14]. dataOut is the
// whole frame again.
func RunSocketFilter(insns []isa.Instruction, data []byte, repeat int) (retval uint32, dataOut []byte, duration time.Duration, err error) {
	return loadAndRun(ebpf.SocketFilter, insns, data, repeat)
}

// RunSchedCLS is RunXDP for a SCHED_CLS (tc) program, whose skb starts at
// the Ethernet header, data[0].
func RunSchedCLS(insns []isa.Instruction, data []byte, repeat int) (retval uint32, dataOut []byte, duration time.Duration, err error) {
	return loadAndRun(ebpf.SchedCLS, insns, data, repeat)
}

func loadAndRun(typ ebpf.ProgramType, insns []isa.Instruction, data []byte, repeat int) (uint32, []byte, time.Duration, error) {
	p, err := Load(typ, insns)
	if err != nil {
		return 0, nil, 0, err
	}
	defer p.Close()
	res, err := p.Run(RunInput{Data: data, Repeat: repeat})
	if err != nil {
		return 0, nil, 0, err
	}
	return res.Retval, res.Data, res.Duration, nil
}
