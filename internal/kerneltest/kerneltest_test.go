package kerneltest

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/isa"
)

func mov64(dst uint8, imm int32) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: dst, Imm: imm}
}

func ldx(size, dst, src uint8, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | size, Dst: dst, Src: src, Offset: off}
}

func stx(size, dst, src uint8, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: dst, Src: src, Offset: off}
}

var exit = isa.Instruction{Opcode: isa.OpcodeExit}

func TestAvailable(t *testing.T) {
	err := Available()
	if runtime.GOOS == "linux" && os.Geteuid() == 0 {
		// CI runs the tests as root on Linux, where the oracle must work.
		if err != nil {
			t.Fatalf("Available() = %v as root on Linux", err)
		}
		return
	}
	if err != nil && !errors.Is(err, ErrUnavailable) {
		t.Errorf("Available() = %v, does not wrap ErrUnavailable", err)
	}
	t.Logf("Available() = %v", err)
}

// TestRunXDP writes into the packet through ctx->data and checks both the
// return value and the packet the kernel hands back.
func TestRunXDP(t *testing.T) {
	Require(t)
	insns := []isa.Instruction{
		ldx(isa.SizeW, isa.R2, isa.R1, 0), // data
		ldx(isa.SizeW, isa.R3, isa.R1, 4), // data_end
		mov64(isa.R0, 0),
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: isa.R4, Src: isa.R2},
		{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcK, Dst: isa.R4, Imm: 16},
		{Opcode: isa.ClassJMP | isa.OpJGT | isa.SrcX, Dst: isa.R4, Src: isa.R3, Offset: 3},
		ldx(isa.SizeB, isa.R0, isa.R2, 5),
		mov64(isa.R5, 0x7a),
		stx(isa.SizeB, isa.R2, isa.R5, 15),
		exit,
	}
	data := make([]byte, 32)
	data[5] = 2 // XDP_PASS
	ret, out, _, err := RunXDP(insns, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ret != 2 {
		t.Errorf("retval = %d, want 2", ret)
	}
	if len(out) != len(data) {
		t.Fatalf("output packet is %d bytes, want %d", len(out), len(data))
	}
	if out[15] != 0x7a || out[14] != 0 || out[16] != 0 {
		t.Errorf("output packet %x: want 0x7a at byte 15 only", out)
	}
	if data[15] != 0 {
		t.Errorf("the input packet was modified")
	}
}

// TestRunRepeat checks that repeated runs work and report a duration.
func TestRunRepeat(t *testing.T) {
	Require(t)
	p, err := Load(ebpf.XDP, []isa.Instruction{mov64(isa.R0, 1), exit})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Type() != ebpf.XDP || p.FD() < 0 {
		t.Errorf("Type() = %v, FD() = %d", p.Type(), p.FD())
	}
	res, err := p.Run(RunInput{Data: make([]byte, 64), Repeat: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Retval != 1 {
		t.Errorf("retval = %d, want 1", res.Retval)
	}
	if res.Duration <= 0 || res.Duration > 1e6 {
		t.Errorf("mean duration %v of a two-instruction program is implausible", res.Duration)
	}
	if _, err := p.Run(RunInput{Data: make([]byte, 64), Repeat: -1}); err == nil {
		t.Error("a negative repeat was accepted")
	}
}

// TestLoadErrorLog checks that a refusal carries the verifier's log.
func TestLoadErrorLog(t *testing.T) {
	Require(t)
	// r0 = r2: r2 is not initialised on entry.
	insns := []isa.Instruction{{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: isa.R0, Src: isa.R2}, exit}
	_, _, _, err := RunXDP(insns, make([]byte, 64), 1)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LoadError", err)
	}
	if !strings.Contains(le.Log, "R2 !read_ok") || !strings.Contains(err.Error(), "R2 !read_ok") {
		t.Errorf("the error does not carry the verifier log:\n%v", err)
	}
	if _, err := Load(ebpf.XDP, nil); err == nil {
		t.Error("an empty program was accepted")
	}
}

// ldAbsB is the legacy r0 = skb[k] byte load.
func ldAbsB(k int32) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassLD | isa.ModeABS | isa.SizeB, Imm: k}
}

// TestSkbOffsets pins down where the skb of each program type starts in the
// test run's data, as documented on RunSocketFilter and RunSchedCLS.
func TestSkbOffsets(t *testing.T) {
	Require(t)
	data := make([]byte, 64)
	for i := range data {
		data[i] = byte(i + 100)
	}
	insns := []isa.Instruction{
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: isa.R6, Src: isa.R1},
		ldAbsB(0),
		exit,
	}
	ret, out, _, err := RunSocketFilter(insns, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ret != uint32(data[14]) {
		t.Errorf("socket filter: skb[0] = %d, want data[14] = %d", ret, data[14])
	}
	if len(out) != len(data) {
		t.Errorf("socket filter: output is %d bytes, want %d", len(out), len(data))
	}
	ret, _, _, err = RunSchedCLS(insns, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ret != uint32(data[0]) {
		t.Errorf("sched_cls: skb[0] = %d, want data[0] = %d", ret, data[0])
	}
}

// TestMapFD checks the documented way to use maps: the map's file
// descriptor in an lddw with source PseudoMapFD.
func TestMapFD(t *testing.T) {
	Require(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ld := isa.LDDW(isa.R1, uint64(m.FD()))
	ld[0].Src = isa.PseudoMapFD
	insns := []isa.Instruction{
		{Opcode: isa.ClassST | isa.ModeMEM | isa.SizeW, Dst: isa.R10, Offset: -4, Imm: 2}, // key = 2
		ld[0], ld[1],
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: isa.R2, Src: isa.R10},
		{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcK, Dst: isa.R2, Imm: -4},
		{Opcode: isa.OpcodeCall, Imm: 1}, // bpf_map_lookup_elem
		{Opcode: isa.ClassJMP | isa.OpJEQ | isa.SrcK, Dst: isa.R0, Offset: 2},
		{Opcode: isa.ClassST | isa.ModeMEM | isa.SizeDW, Dst: isa.R0, Imm: 4242},
		mov64(isa.R0, 2),
		exit,
	}
	if _, _, _, err := RunXDP(insns, make([]byte, 64), 1); err != nil {
		t.Fatal(err)
	}
	var v uint64
	if err := m.Lookup(uint32(2), &v); err != nil {
		t.Fatal(err)
	}
	if v != 4242 {
		t.Errorf("map value = %d, want 4242", v)
	}
}

// BenchmarkLoad measures BPF_PROG_LOAD of a small program (verifier and
// JIT included), the fixed cost of each kernel-oracle check.
func BenchmarkLoad(b *testing.B) {
	Require(b)
	insns := []isa.Instruction{mov64(isa.R0, 2), exit}
	for b.Loop() {
		p, err := Load(ebpf.XDP, insns)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

// BenchmarkRun measures one BPF_PROG_TEST_RUN of a trivial XDP program.
func BenchmarkRun(b *testing.B) {
	Require(b)
	p, err := Load(ebpf.XDP, []isa.Instruction{mov64(isa.R0, 2), exit})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	data := make([]byte, 64)
	for b.Loop() {
		if _, err := p.Run(RunInput{Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRunContext passes a context in and reads it back: a tc program
// returns skb->mark, which the test run takes from struct __sk_buff.
func TestRunContext(t *testing.T) {
	Require(t)
	p, err := Load(ebpf.SchedCLS, []isa.Instruction{ldx(isa.SizeW, isa.R0, isa.R1, 8), exit})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := make([]byte, 16) // len, pkt_type, mark, queue_mapping: the kernel wants the first two zero
	ctx[8], ctx[9] = 0x34, 0x12
	res, err := p.Run(RunInput{Data: make([]byte, 64), Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	if res.Retval != 0x1234 {
		t.Errorf("retval %#x, want the mark 0x1234", res.Retval)
	}
	if len(res.Context) < len(ctx) || res.Context[8] != 0x34 || res.Context[9] != 0x12 {
		t.Errorf("context out %x", res.Context)
	}
}
