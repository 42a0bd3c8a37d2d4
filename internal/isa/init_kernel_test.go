package isa_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	ciliumasm "github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// kernelVerdict loads a socket filter into the running kernel and returns
// the verifier log if it was refused (nil, true if accepted). ok is false
// when the kernel could not judge it (cilium/ebpf refused it first).
func kernelVerdict(t *testing.T, insns []isa.Instruction) (log []string, accepted, ok bool) {
	t.Helper()
	cins, err := ciliumasm.AppendInstructions(nil, bytes.NewReader(isa.Encode(insns)), binary.LittleEndian, "linux")
	if err != nil {
		return nil, false, false
	}
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:         ebpf.SocketFilter,
		Instructions: cins,
		License:      "GPL",
	}, ebpf.ProgramOptions{LogLevel: ebpf.LogLevelBranch})
	if err == nil {
		prog.Close()
		return nil, true, true
	}
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) {
		return nil, false, false
	}
	return ve.Log, false, true
}

func requireKernel(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the kernel oracle needs Linux")
	}
	_, accepted, ok := kernelVerdict(t, []isa.Instruction{{Opcode: 0xb7}, {Opcode: 0x95}})
	if !ok || !accepted {
		t.Skip("bpf() unavailable (not root, or BPF disabled): cannot consult the kernel verifier")
	}
}

// randomProgram builds a small program from moves, additions, forward
// conditional jumps, helper calls (bpf_get_prandom_u32, id 7, no
// arguments), stack stores and, in half of the programs, calls to a
// bpf-to-bpf function placed after the main function's exit.
func randomProgram(r *rand.Rand) []isa.Instruction {
	reg := func() uint8 { return uint8(r.Intn(10)) }
	withCallee := r.Intn(2) == 0
	// body appends n random instructions; a local call gets imm -1 as a
	// placeholder for the callee's address.
	body := func(p []isa.Instruction, n int, calls bool) []isa.Instruction {
		for k := 0; k < n; k++ {
			switch r.Intn(9) {
			case 0, 1:
				p = append(p, isa.Instruction{Opcode: 0xb7, Dst: reg(), Imm: int32(r.Intn(5))})
			case 2:
				p = append(p, isa.Instruction{Opcode: 0xbf, Dst: reg(), Src: reg()})
			case 3:
				p = append(p, isa.Instruction{Opcode: 0x07, Dst: reg(), Imm: 1})
			case 4:
				p = append(p, isa.Instruction{Opcode: 0x0f, Dst: reg(), Src: reg()})
			case 5:
				p = append(p, isa.Instruction{Opcode: 0x85, Imm: 7})
			case 6:
				// Forward jump over 0..(n-k-1) instructions, at most to
				// the function's exit.
				dst := uint8(6)
				if r.Intn(4) == 0 {
					dst = reg()
				}
				p = append(p, isa.Instruction{Opcode: 0x25, Dst: dst, Imm: 2, Offset: int16(r.Intn(n - k))})
			case 7:
				p = append(p, isa.Instruction{Opcode: 0x7b, Dst: 10, Src: reg(), Offset: -8})
			case 8:
				if calls {
					p = append(p, isa.Instruction{Opcode: 0x85, Src: isa.CallLocal, Imm: -1})
				} else {
					p = append(p, isa.Instruction{Opcode: 0xb7, Dst: reg()})
				}
			}
		}
		return append(p, isa.Instruction{Opcode: 0x95})
	}
	// r6 holds an unknown value, so the kernel cannot decide jumps on it
	// and explores both ways, as CheckInitialized does.
	p := []isa.Instruction{{Opcode: 0x85, Imm: 7}, {Opcode: 0xbf, Dst: 6}}
	// Write most registers first, so that only some programs read an
	// unwritten one.
	for d := uint8(0); d < 10; d++ {
		if d != 6 && r.Intn(10) < 8 {
			p = append(p, isa.Instruction{Opcode: 0xb7, Dst: d, Imm: int32(r.Intn(5))})
		}
	}
	p = body(p, 3+r.Intn(10), withCallee)
	callee := len(p)
	if withCallee {
		p = body(p, 1+r.Intn(5), false)
	}
	for k := range p[:callee] {
		if p[k].Opcode == 0x85 && p[k].Src == isa.CallLocal {
			p[k].Imm = int32(callee - k - 1)
		}
	}
	return p
}

// TestCheckInitializedAgainstKernel: whenever the kernel's verifier finds
// a read of an unwritten register ("R3 !read_ok") on some path,
// CheckInitialized must refuse the program too. (The converse need not
// hold: the kernel prunes branches it can decide, CheckInitialized does
// not.)
func TestCheckInitializedAgainstKernel(t *testing.T) {
	requireKernel(t)
	const entry = isa.RegMask(1<<isa.R1 | 1<<isa.R10) // a socket filter's entry state
	r := rand.New(rand.NewSource(42))
	var kernelUninit, kernelAccepted, bothRefused, weRefused, judged, acceptedRefused int
	for range 1000 {
		prog := randomProgram(r)
		if isa.Validate(prog) != nil {
			continue
		}
		log, accepted, ok := kernelVerdict(t, prog)
		if !ok {
			continue
		}
		judged++
		ours := isa.CheckInitialized(prog, entry)
		if ours != nil {
			weRefused++
		}
		if accepted {
			kernelAccepted++
			if ours != nil {
				acceptedRefused++ // a path the kernel proved infeasible
			}
			continue
		}
		if strings.Contains(strings.Join(log, "\n"), "!read_ok") {
			kernelUninit++
			if ours == nil {
				t.Errorf("the kernel found an uninitialized read that CheckInitialized missed:\n%s\nkernel log:\n%s",
					isa.FormatProgram(prog), strings.Join(log, "\n"))
				continue
			}
			bothRefused++
		}
	}
	t.Logf("%d programs judged: kernel accepted %d (CheckInitialized refused %d of them), kernel found uninitialized reads in %d (CheckInitialized refused all %d), CheckInitialized refused %d in all",
		judged, kernelAccepted, acceptedRefused, kernelUninit, bothRefused, weRefused)
	if kernelUninit < 50 || kernelAccepted < 50 {
		t.Errorf("%d programs with uninitialized reads, %d accepted: the generator no longer exercises both outcomes", kernelUninit, kernelAccepted)
	}
}
