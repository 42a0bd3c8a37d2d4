package verifier

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

func mustReject(t *testing.T, insns []isa.Instruction, cfg Config) *Error {
	t.Helper()
	_, err := Verify(insns, cfg)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("accepted (err %v), want a rejection", err)
	}
	return e
}

// xdpPacket reads r0 = packet[off] after checking data + check <= data_end.
func xdpPacket(check, off int32) []isa.Instruction {
	return prog(
		ldx(isa.SizeW, isa.R2, isa.R1, 0),
		ldx(isa.SizeW, isa.R3, isa.R1, 4),
		mov64r(isa.R4, isa.R2),
		add64(isa.R4, check),
		jmpX(isa.OpJGT, isa.R4, isa.R3, 2),
		ldx(isa.SizeB, isa.R0, isa.R2, int16(off)),
		exit(),
		mov64(isa.R0, 0),
		exit(),
	)
}

func TestPacketRangeAndHint(t *testing.T) {
	res, err := Verify(xdpPacket(14, 13), Config{ProgType: "xdp"})
	if err != nil {
		t.Fatalf("in-bounds packet read rejected: %v", err)
	}
	if res.Facts[5]&FactMemSafe == 0 {
		t.Errorf("the proven packet load has no FactMemSafe fact: %v", res.Facts)
	}
	if res.Facts[4]&(FactBranchTaken|FactBranchNotTaken) != FactBranchTaken|FactBranchNotTaken {
		t.Errorf("both sides of the bounds check are live, facts say %v", res.Facts[4])
	}
	e := mustReject(t, xdpPacket(14, 14), Config{ProgType: "xdp", LineInfo: map[int]string{5: "x = pkt[14];"}})
	if e.Kind != KindUnsafe || e.Index != 5 {
		t.Fatalf("kind %v index %d, want unsafe at 5", e.Kind, e.Index)
	}
	for _, want := range []string{"offset is outside of the packet", "data + 15 <= data_end"} {
		if !strings.Contains(e.Reason, want) {
			t.Errorf("reason %q lacks %q", e.Reason, want)
		}
	}
	if e.Line != "x = pkt[14];" || !strings.Contains(e.Detail(), "source: x = pkt[14];") {
		t.Errorf("line info not reported: %q", e.Detail())
	}
	if len(e.Path) != 1 || e.Path[0] != (Branch{Index: 4, Taken: false}) {
		t.Errorf("path %v, want the fall-through of the check at 4", e.Path)
	}
	if !strings.Contains(e.State, "R2=pkt(r=14)") {
		t.Errorf("state %q does not show the proven range", e.State)
	}
	if !strings.Contains(e.Insn, "r0 = *(u8 *)(r2 + 14)") {
		t.Errorf("disassembly %q", e.Insn)
	}
}

func TestNullCheckByID(t *testing.T) {
	// A copy of the lookup result is null-checked; the original is used.
	p := prog(
		st(isa.SizeDW, isa.R10, -8, 0),
		mov64r(isa.R2, isa.R10), add64(isa.R2, -8),
		ldMap(isa.R1, 2), call(1),
		mov64r(isa.R6, isa.R0),
		jmpK(isa.OpJEQ, isa.R6, 0, 2),
		ldx(isa.SizeDW, isa.R0, isa.R0, 0),
		exit(),
		mov64(isa.R0, 0),
		exit(),
	)
	if _, err := Verify(p, Config{ProgType: "socket_filter", Maps: testMaps}); err != nil {
		t.Fatalf("copies are refined together: %v", err)
	}
	p[8] = ldx(isa.SizeDW, isa.R0, isa.R0, 8) // past the 8-byte value
	e := mustReject(t, p, Config{ProgType: "socket_filter", Maps: testMaps})
	if !strings.Contains(e.Reason, "map value") {
		t.Errorf("reason %q", e.Reason)
	}
}

func TestUnsupportedIsNotUnsafe(t *testing.T) {
	for name, c := range map[string]struct {
		insns []isa.Instruction
		cfg   Config
	}{
		"kfunc":     {prog(isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallKfunc, Imm: 1}, exit()), Config{ProgType: "socket_filter"}},
		"helper":    {prog(call(200), exit()), Config{ProgType: "socket_filter"}},
		"prog type": {prog(mov64(0, 0), exit()), Config{ProgType: "struct_ops"}},
	} {
		e := mustReject(t, c.insns, c.cfg)
		if e.Kind != KindUnsupported || !strings.Contains(e.Error(), "unsupported by bpfvm") {
			t.Errorf("%s: kind %v (%v), want unsupported", name, e.Kind, e)
		}
	}
	e := mustReject(t, prog(call(5000), exit()), Config{ProgType: "socket_filter"})
	if e.Kind != KindUnsafe {
		t.Errorf("an unknown helper id is the program's error, got %v", e.Kind)
	}
}

func TestComplexityLimit(t *testing.T) {
	// An unbounded loop the verifier cannot prove finite.
	p := prog(
		mov64(isa.R1, 0),
		add64(isa.R1, 1),
		jmpK(isa.OpJNE, isa.R1, 0, -2),
		mov64(isa.R0, 0),
		exit(),
	)
	e := mustReject(t, p, Config{ProgType: "socket_filter", MaxProcessed: 50_000})
	if e.Kind != KindLimit || e.Stats.Processed <= 50_000 {
		t.Fatalf("kind %v after %d insns: %v", e.Kind, e.Stats.Processed, e)
	}
	// A bounded loop is fine.
	p = prog(mov64(isa.R1, 0), add64(isa.R1, 1), jmpK(isa.OpJLT, isa.R1, 100, -2), mov64(isa.R0, 0), exit())
	res, err := Verify(p, Config{ProgType: "socket_filter"})
	if err != nil {
		t.Fatalf("bounded loop rejected: %v", err)
	}
	if res.Stats.Processed < 200 {
		t.Errorf("processed %d insns, the loop runs 100 times", res.Stats.Processed)
	}
}

func TestBpfToBpfCallFrames(t *testing.T) {
	// main passes a pointer to its stack; the callee writes through it.
	p := prog(
		mov64r(isa.R1, isa.R10), add64(isa.R1, -8),
		isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal, Imm: 2},
		ldx(isa.SizeDW, isa.R0, isa.R10, -8),
		exit(),
		st(isa.SizeDW, isa.R1, 0, 42),
		mov64(isa.R0, 0),
		exit(),
	)
	if _, err := Verify(p, Config{ProgType: "socket_filter"}); err != nil {
		t.Fatalf("rejected: %v", err)
	}
	// The callee may not return a pointer to its own stack.
	p = prog(
		isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal, Imm: 1},
		exit(),
		mov64r(isa.R0, isa.R10),
		exit(),
	)
	e := mustReject(t, p, Config{ProgType: "socket_filter"})
	if !strings.Contains(e.Reason, "cannot return stack pointer") {
		t.Errorf("reason %q", e.Reason)
	}
}
