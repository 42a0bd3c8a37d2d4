package interp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

func mustLoad(t testing.TB, src string, opts Options) *Program {
	t.Helper()
	insns, err := asm.Assemble(src)
	if err != nil {
		t.Fatalf("assemble: %v", err)
	}
	p, err := Load(insns, opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

func runAsm(t testing.TB, src string, mem []byte) (uint64, error) {
	t.Helper()
	return mustLoad(t, src, Options{}).NewVM().Run(mem)
}

// TestSemantics pins the edge cases of every instruction family, each
// against a value worked out by hand from RFC 9669 and the kernel.
func TestSemantics(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want uint64
	}{
		// 32-bit results are zero-extended.
		{"add32-zext", "lddw %r0, -1\nadd32 %r0, 0", 0xffffffff},
		{"mov32-zext", "lddw %r0, -1\nmov32 %r0, %r0", 0xffffffff},
		{"mov32-imm-neg", "mov32 %r0, -1", 0xffffffff},
		{"mov64-imm-sext", "mov %r0, -1", 0xffffffffffffffff},
		{"add64-imm-sext", "mov %r0, 0\nadd %r0, -2", 0xfffffffffffffffe},
		{"sub32-wrap", "mov32 %r0, 1\nsub32 %r0, 2", 0xffffffff},
		{"mul32-trunc", "lddw %r0, 0x100000003\nmul32 %r0, 0x10000", 0x30000},
		{"neg64", "mov %r0, 5\nneg %r0", 0xfffffffffffffffb},
		{"neg32", "mov %r0, 5\nneg32 %r0", 0xfffffffb},
		{"neg64-intmin", "lddw %r0, 0x8000000000000000\nneg %r0", 0x8000000000000000},
		// Division: by zero gives 0, modulo by zero keeps the dividend.
		{"div64-zero", "mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1", 0},
		{"div64-imm-neg", "lddw %r0, -1\ndiv %r0, -1", 1}, // imm sign-extends to 2^64-1
		{"div32-zero", "mov %r0, 7\nmov %r1, 0\ndiv32 %r0, %r1", 0},
		{"mod64-zero", "mov %r0, -7\nmov %r1, 0\nmod %r0, %r1", 0xfffffffffffffff9},
		{"mod32-zero-zext", "lddw %r0, 0xffffffff00000005\nmov %r1, 0\nmod32 %r0, %r1", 5},
		{"div32-uses-low-bits", "lddw %r0, 0x100000010\nlddw %r1, 0x100000004\ndiv32 %r0, %r1", 4},
		{"sdiv64", "mov %r0, -7\nsdiv %r0, 2", 0xfffffffffffffffd},
		{"sdiv64-zero", "mov %r0, -7\nmov %r1, 0\nsdiv %r0, %r1", 0},
		{"sdiv64-intmin-neg1", "lddw %r0, 0x8000000000000000\nsdiv %r0, -1", 0x8000000000000000},
		{"smod64-intmin-neg1", "lddw %r0, 0x8000000000000000\nsmod %r0, -1", 0},
		{"smod64-sign-of-dividend", "mov %r0, -7\nsmod %r0, 2", 0xffffffffffffffff},
		{"smod64-zero", "mov %r0, -7\nmov %r1, 0\nsmod %r0, %r1", 0xfffffffffffffff9},
		{"sdiv32-intmin-neg1", "mov32 %r0, 0x80000000\nsdiv32 %r0, -1", 0x80000000},
		{"smod32-intmin-neg1", "mov32 %r0, 0x80000000\nsmod32 %r0, -1", 0},
		{"sdiv32-neg", "mov32 %r0, -7\nsdiv32 %r0, 2", 0xfffffffd},
		{"smod32-zero-zext", "mov %r0, -7\nmov %r1, 0\nsmod32 %r0, %r1", 0xfffffff9},
		{"sdiv32-zero", "mov %r0, -7\nsdiv32 %r0, 0", 0},
		// Shift counts are masked to the operand width.
		{"lsh64-masked", "mov %r0, 1\nlsh %r0, 65", 2},
		{"lsh64-neg-imm", "mov %r0, 1\nlsh %r0, -1", 0x8000000000000000},
		{"lsh32-masked", "mov %r0, 1\nlsh32 %r0, 33", 2},
		{"rsh32-masked-reg", "mov32 %r0, 0x80000000\nmov %r1, 63\nrsh32 %r0, %r1", 1},
		{"rsh64-logical", "mov %r0, -1\nrsh %r0, 60", 0xf},
		{"arsh64", "mov %r0, -16\narsh %r0, 2", 0xfffffffffffffffc},
		{"arsh32-zext", "mov32 %r0, 0x80000000\narsh32 %r0, 4", 0xf8000000},
		{"arsh32-masked", "mov32 %r0, 0x80000000\nmov %r1, 36\narsh32 %r0, %r1", 0xf8000000},
		// movsx.
		{"movsx864", "mov %r1, 0x80\nmovsx864 %r0, %r1", 0xffffffffffffff80},
		{"movsx1664", "mov %r1, 0x8000\nmovsx1664 %r0, %r1", 0xffffffffffff8000},
		{"movsx3264", "mov32 %r1, 0x80000000\nmovsx3264 %r0, %r1", 0xffffffff80000000},
		{"movsx832-zext", "mov %r1, 0x80\nmovsx832 %r0, %r1", 0xffffff80},
		{"movsx1632-zext", "mov %r1, 0x8000\nmovsx1632 %r0, %r1", 0xffff8000},
		// Byte order.
		{"be16", "lddw %r0, 0x1122334455667788\nbe16 %r0", 0x8877},
		{"be32", "lddw %r0, 0x1122334455667788\nbe32 %r0", 0x88776655},
		{"be64", "lddw %r0, 0x1122334455667788\nbe64 %r0", 0x8877665544332211},
		{"le16", "lddw %r0, 0x1122334455667788\nle16 %r0", 0x7788},
		{"le32", "lddw %r0, 0x1122334455667788\nle32 %r0", 0x55667788},
		{"le64", "lddw %r0, 0x1122334455667788\nle64 %r0", 0x1122334455667788},
		{"bswap16", "lddw %r0, 0x1122334455667788\nbswap16 %r0", 0x8877},
		{"bswap32", "lddw %r0, 0x1122334455667788\nbswap32 %r0", 0x88776655},
		{"bswap64", "lddw %r0, 0x1122334455667788\nbswap64 %r0", 0x8877665544332211},
		// Jumps: 64-bit compares sign-extend the immediate, also unsigned ones.
		{"jgt-neg-imm-unsigned", "mov %r0, -1\njgt %r0, -2, +1\nmov %r0, 0", 0xffffffffffffffff},
		{"jlt-neg-imm-unsigned", "mov %r0, 5\njlt %r0, -1, +1\nmov %r0, 0", 5},
		{"jeq-imm-sext", "mov32 %r0, -1\njeq %r0, -1, +1\nmov %r0, 9", 9},
		{"jeq32-imm", "mov32 %r0, -1\njeq32 %r0, -1, +1\nmov %r0, 9", 0xffffffff},
		{"jsgt32-low-half", "lddw %r0, 0x7fffffff80000000\njsgt32 %r0, 0, +1\nmov %r0, 1", 1},
		{"jsgt64", "lddw %r0, 0x7fffffff80000000\njsgt %r0, 0, +1\nmov %r0, 1", 0x7fffffff80000000},
		{"jslt-neg", "mov %r0, -5\nmov %r1, -4\njslt %r0, %r1, +1\nmov %r0, 1", 0xfffffffffffffffb},
		{"jset", "mov %r0, 6\njset %r0, 1, +1\nmov %r0, 2", 2},
		{"jset32-high-bits-ignored", "lddw %r0, 0x100000000\njset32 %r0, -1, +1\nmov %r0, 3", 3},
		{"jle32-reg", "lddw %r0, 0x1ffffffff\nmov %r1, 0\njle32 %r1, %r0, +1\nmov %r0, 4", 0x1ffffffff},
		{"jge-equal", "mov %r0, 4\njge %r0, 4, +1\nmov %r0, 5", 4},
		{"jne-reg", "mov %r0, 4\nmov %r1, 4\njne %r0, %r1, +1\nmov %r0, 5", 5},
		{"ja-back", "mov %r0, 0\nja +2\nmov %r0, 7\nexit\nja -3", 7},
		{"ja32", "mov %r0, 1\nja32 +1\nmov %r0, 2\nadd %r0, 10", 11},
		// Loads and stores on the stack.
		{"stack-dw", "lddw %r1, 0x1122334455667788\nstxdw [%r10-8], %r1\nldxdw %r0, [%r10-8]", 0x1122334455667788},
		{"st-imm-sext", "stdw [%r10-8], -1\nldxdw %r0, [%r10-8]", 0xffffffffffffffff},
		{"stb-trunc", "stdw [%r10-8], 0\nstb [%r10-8], 0x1ff\nldxdw %r0, [%r10-8]", 0xff},
		{"ldxsb", "stb [%r10-1], 0x80\nldxsb %r0, [%r10-1]", 0xffffffffffffff80},
		{"ldxsh", "sth [%r10-2], -2\nldxsh %r0, [%r10-2]", 0xfffffffffffffffe},
		{"ldxsw", "stw [%r10-4], -3\nldxsw %r0, [%r10-4]", 0xfffffffffffffffd},
		{"ldxw-zext", "stw [%r10-4], -3\nldxw %r0, [%r10-4]", 0xfffffffd},
		{"stack-zeroed", "ldxdw %r0, [%r10-512]", 0},
		// Atomics.
		{"atomic-add32-keeps-high", "stdw [%r10-8], -1\nmov %r1, 1\nlock add32 [%r10-8], %r1\nldxdw %r0, [%r10-8]", 0xffffffff00000000},
		{"atomic-fetch-add64", "stdw [%r10-8], 5\nmov %r1, 3\nlock fetch add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r1", 0x805},
		{"atomic-fetch-and32-zext", "stw [%r10-4], -1\nlddw %r1, 0xffffffff0000ff00\nlock fetch and32 [%r10-4], %r1\nmov %r0, %r1", 0xffffffff},
		{"atomic-xor64", "stdw [%r10-8], 0xff\nmov %r1, 0x0f\nlock xor [%r10-8], %r1\nldxdw %r0, [%r10-8]", 0xf0},
		{"atomic-fetch-xor32", "stw [%r10-4], 0xff\nmov %r1, 0x0f\nlock fetch xor32 [%r10-4], %r1\nldxw %r0, [%r10-4]\nlsh %r0, 16\nor %r0, %r1", 0xf000ff},
		{"atomic-or-fetch", "stdw [%r10-8], 1\nmov %r1, 2\nlock fetch or [%r10-8], %r1\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r1", 0x301},
		{"atomic-xchg32", "stw [%r10-4], 7\nmov %r1, 9\nlock xchg32 [%r10-4], %r1\nldxw %r0, [%r10-4]\nlsh %r0, 8\nor %r0, %r1", 0x907},
		{"atomic-cmpxchg32-miss", "stw [%r10-4], 7\nlddw %r0, 0x100000007\nmov %r1, 9\nlock cmpxchg32 [%r10-4], %r1\nldxw %r1, [%r10-4]\nlsh %r1, 8\nor %r0, %r1", 0x907}, // low 32 bits compared: hit
		{"atomic-cmpxchg64-miss", "stdw [%r10-8], 7\nmov %r0, 8\nmov %r1, 9\nlock cmpxchg [%r10-8], %r1\nldxdw %r1, [%r10-8]\nlsh %r1, 8\nor %r0, %r1", 0x707},
		// Local calls: r6-r9 restored, own frame, r1-r5 arguments.
		{"call-local", "mov %r6, 1\nmov %r1, 41\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r6, 100\nmov %r0, %r1\nexit", 42},
		{"call-local-frames", "stdw [%r10-8], 1\ncall local f\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nexit\nf:\nstdw [%r10-8], 10\nldxdw %r0, [%r10-8]\nexit", 11},
		{"call-local-caller-stack", "stdw [%r10-8], 5\nmov %r1, %r10\ncall local f\nldxdw %r0, [%r10-8]\nexit\nf:\nstdw [%r1-8], 6\nexit", 6},
		{"call-local-r10", "mov %r6, %r10\ncall local f\nsub %r6, %r0\nmov %r0, %r6\nexit\nf:\nmov %r0, %r10\nexit", 0xfffffffffffffe00},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := c.src
			if !strings.Contains(src, "exit") {
				src += "\nexit"
			}
			got, err := runAsm(t, src, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("r0 = %#x, want %#x", got, c.want)
			}
		})
	}
}

func TestMemoryArgument(t *testing.T) {
	// r1 = &mem[0], r2 = len(mem); the program writes mem.
	p := mustLoad(t, `
		ldxw %r0, [%r1+4]
		stw [%r1], 0x11223344
		add %r0, %r2
		exit`, Options{})
	mem := []byte{0, 0, 0, 0, 1, 0, 0, 0}
	got, err := p.NewVM().Run(mem)
	if err != nil {
		t.Fatal(err)
	}
	if got != 9 {
		t.Errorf("r0 = %d, want 9", got)
	}
	if v := binary.LittleEndian.Uint32(mem); v != 0x11223344 {
		t.Errorf("mem[0:4] = %#x, want 0x11223344", v)
	}
	// Empty memory: r1 = 0, r2 = 0.
	got, err = mustLoad(t, "mov %r0, %r1\nadd %r0, %r2\nexit", Options{}).NewVM().Run(nil)
	if err != nil || got != 0 {
		t.Errorf("empty memory: r0 = %d, %v; want 0", got, err)
	}
}

// runErr runs src and checks that it fails with sentinel at slot index.
func runErr(t *testing.T, p *Program, mem []byte, sentinel error, index int, text string) {
	t.Helper()
	_, err := p.NewVM().Run(mem)
	checkErr(t, err, sentinel, index, text)
}

func checkErr(t *testing.T, err error, sentinel error, index int, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q does not wrap %v", err, sentinel)
	}
	var ie *isa.InstructionError
	if !errors.As(err, &ie) {
		t.Fatalf("error %q is not an *isa.InstructionError", err)
	}
	if ie.Index != index {
		t.Errorf("error names instruction %d, want %d: %v", ie.Index, index, err)
	}
	if want := fmt.Sprintf("instruction %d ", index); !strings.Contains(err.Error(), want) {
		t.Errorf("error text %q does not contain %q", err, want)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error text %q does not contain %q", err, text)
	}
}

func TestRunErrors(t *testing.T) {
	mem := make([]byte, 16)
	t.Run("read-past-mem", func(t *testing.T) {
		runErr(t, mustLoad(t, "mov %r0, 0\nldxdw %r0, [%r1+9]\nexit", Options{}), mem, engine.ErrOutOfBounds, 1, "read of 8 bytes")
	})
	t.Run("read-before-mem", func(t *testing.T) {
		runErr(t, mustLoad(t, "ldxb %r0, [%r1-1]\nexit", Options{}), mem, engine.ErrOutOfBounds, 0, "read of 1 bytes")
	})
	t.Run("write-past-mem", func(t *testing.T) {
		runErr(t, mustLoad(t, "mov %r0, 0\nstw [%r1+13], 1\nexit", Options{}), mem, engine.ErrOutOfBounds, 1, "write of 4 bytes")
	})
	t.Run("null", func(t *testing.T) {
		runErr(t, mustLoad(t, "mov %r1, 0\nldxw %r0, [%r1]\nexit", Options{}), nil, engine.ErrOutOfBounds, 1, "null")
	})
	t.Run("above-r10", func(t *testing.T) {
		runErr(t, mustLoad(t, "ldxdw %r0, [%r10]\nexit", Options{}), nil, engine.ErrOutOfBounds, 0, "read of 8 bytes")
	})
	t.Run("below-stack", func(t *testing.T) {
		runErr(t, mustLoad(t, "ldxb %r0, [%r10-513]\nexit", Options{}), nil, engine.ErrOutOfBounds, 0, "read of 1 bytes")
	})
	t.Run("callee-frame-after-return", func(t *testing.T) {
		// A pointer into a callee's frame is dead once it returns.
		runErr(t, mustLoad(t, "call local f\nldxdw %r0, [%r0-8]\nexit\nf:\nmov %r0, %r10\nexit", Options{}), nil, engine.ErrOutOfBounds, 1, "read of 8 bytes")
	})
	t.Run("atomic-misaligned", func(t *testing.T) {
		runErr(t, mustLoad(t, "mov %r0, 1\nlock add [%r10-12], %r0\nexit", Options{}), nil, engine.ErrOutOfBounds, 1, "not aligned")
	})
	t.Run("atomic-out-of-bounds", func(t *testing.T) {
		runErr(t, mustLoad(t, "mov %r0, 1\nlock add32 [%r1+16], %r0\nexit", Options{}), mem, engine.ErrOutOfBounds, 1, "write of 4 bytes")
	})
	t.Run("budget", func(t *testing.T) {
		p := mustLoad(t, "mov %r0, 0\nloop:\nadd %r0, 1\nja loop", Options{Budget: 1000})
		vm := p.NewVM()
		_, err := vm.Run(nil)
		checkErr(t, err, engine.ErrBudgetExhausted, 2, "budget of 1000")
		if vm.Executed() != 1000 {
			t.Errorf("Executed() = %d, want 1000", vm.Executed())
		}
		vm.SetBudget(11)
		_, err = vm.Run(nil)
		checkErr(t, err, engine.ErrBudgetExhausted, 1, "budget of 11")
		if vm.Executed() != 11 {
			t.Errorf("Executed() = %d, want 11", vm.Executed())
		}
	})
	t.Run("depth", func(t *testing.T) {
		p := mustLoad(t, "call local f\nexit\nf:\ncall local f\nexit", Options{})
		vm := p.NewVM()
		_, err := vm.Run(nil)
		// Frames 1..8 exist; the call from frame 8 (slot 2) fails.
		checkErr(t, err, engine.ErrCallDepth, 2, "limit is 8")
		if vm.Executed() != 8 {
			t.Errorf("Executed() = %d, want 8", vm.Executed())
		}
	})
	t.Run("depth-7-ok", func(t *testing.T) {
		// Seven nested calls make eight frames: allowed.
		src := "mov %r0, 0\ncall local f1\nexit\n"
		for i := 1; i < 7; i++ {
			src += fmt.Sprintf("f%d:\nadd %%r0, 1\ncall local f%d\nexit\n", i, i+1)
		}
		src += "f7:\nadd %r0, 1\nstdw [%r10-512], 1\nexit"
		got, err := runAsm(t, src, nil)
		if err != nil || got != 7 {
			t.Fatalf("r0 = %d, %v; want 7", got, err)
		}
	})
	t.Run("callx-unknown", func(t *testing.T) {
		p := mustLoad(t, "mov %r1, 1\nmov %r3, 77\ncall %r3\nexit", Options{Helpers: conformanceHelpers})
		runErr(t, p, nil, engine.ErrUnknownHelper, 2, "77")
	})
	t.Run("callx-huge-id", func(t *testing.T) {
		// The low 32 bits name helper 5, but the register holds more.
		p := mustLoad(t, "lddw %r3, 0x100000005\ncall %r3\nexit", Options{Helpers: conformanceHelpers})
		runErr(t, p, nil, engine.ErrUnknownHelper, 2, "callx")
	})
	t.Run("helper-error", func(t *testing.T) {
		boom := errors.New("boom")
		p := mustLoad(t, "mov %r1, 1\ncall 9\nexit", Options{Helpers: engine.Helpers{9: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
			return 0, boom
		}}})
		_, err := p.NewVM().Run(nil)
		checkErr(t, err, engine.ErrHelperFailed, 1, "helper 9 failed: boom")
		if !errors.Is(err, boom) {
			t.Errorf("error %v does not wrap the helper's error", err)
		}
	})
	t.Run("helper-panic", func(t *testing.T) {
		p := mustLoad(t, "call 9\nexit", Options{Helpers: engine.Helpers{9: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
			panic("helper bug")
		}}})
		vm := p.NewVM()
		_, err := vm.Run(nil)
		if err == nil || !strings.Contains(err.Error(), "helper bug") {
			t.Fatalf("err = %v, want the recovered panic", err)
		}
		// The VM is usable again afterwards.
		if _, err := vm.Run(nil); err == nil {
			t.Fatal("second run did not fail")
		}
	})
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name     string
		insns    []isa.Instruction
		sentinel error
		index    int
	}{
		{"unknown-helper", []isa.Instruction{
			{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 0},
			{Opcode: isa.OpcodeCall, Imm: 12345},
			{Opcode: isa.OpcodeExit},
		}, engine.ErrUnknownHelper, 1},
		{"kfunc", []isa.Instruction{
			{Opcode: isa.OpcodeCall, Src: isa.CallKfunc, Imm: 1},
			{Opcode: isa.OpcodeExit},
		}, ErrUnsupported, 0},
		{"lddw-map-fd", []isa.Instruction{
			{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 0},
			{Opcode: isa.OpcodeLDDW, Dst: 1, Src: isa.PseudoMapFD, Imm: 3}, {},
			{Opcode: isa.OpcodeExit},
		}, ErrUnsupported, 1},
		{"invalid", []isa.Instruction{
			{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 10},
			{Opcode: isa.OpcodeExit},
		}, isa.ErrInvalidProgram, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.insns, Options{Helpers: conformanceHelpers})
			checkErr(t, err, c.sentinel, c.index, "")
		})
	}
	if _, err := Load(nil, Options{}); !errors.Is(err, isa.ErrInvalidProgram) {
		t.Errorf("empty program: err = %v", err)
	}
}

func TestExecutedCount(t *testing.T) {
	// 1 mov + 10 * (add, jne) + exit; lddw counts once.
	p := mustLoad(t, "lddw %r0, 0\nloop:\nadd %r0, 1\njne %r0, 10, loop\nexit", Options{})
	vm := p.NewVM()
	if _, err := vm.Run(nil); err != nil {
		t.Fatal(err)
	}
	if got := vm.Executed(); got != 22 {
		t.Errorf("Executed() = %d, want 22", got)
	}
}

func TestStackClearedBetweenRuns(t *testing.T) {
	p := mustLoad(t, "ldxdw %r0, [%r10-8]\nstdw [%r10-8], 99\ncall local f\nexit\nf:\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nstdw [%r10-8], 7\nexit", Options{})
	vm := p.NewVM()
	for i := 0; i < 3; i++ {
		got, err := vm.Run(nil)
		if err != nil || got != 0 {
			t.Fatalf("run %d: r0 = %d, %v; want 0 (a fresh stack)", i, got, err)
		}
	}
}

// TestStackWritesClearedBetweenRuns checks that a run sees a zeroed stack
// whatever earlier runs wrote, and however they wrote it: the VM clears
// only from the lowest byte a run may have written, so every way of
// writing the stack must be accounted for. A run descends to the deepest
// frame (all 4096 bytes of stack live), then writes in the way mem[0]
// selects, or (mode 0) sums the whole stack with a helper.
func TestStackWritesClearedBetweenRuns(t *testing.T) {
	helpers := envHelpers(make([]byte, 8), make([]byte, 8))
	helpers[7] = func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
		panic("helper bug")
	}
	p := mustLoad(t, `
		ldxb %r6, [%r1]
		mov %r1, 6
		call local down
		exit
		down:
		jeq %r1, 0, bottom
		sub %r1, 1
		call local down
		exit
		bottom:
		jeq %r6, 0, check
		jeq %r6, 1, direct
		jeq %r6, 2, viaptr
		jeq %r6, 3, atomic
		jeq %r6, 4, fill
		jeq %r6, 5, fault
		jeq %r6, 6, panic
		mov %r0, 0
		exit
		check:
		mov %r1, %r10
		sub %r1, 4096
		mov %r2, 4096
		call 3
		exit
		direct:
		stb [%r10-1], 1
		stdw [%r10-512], 2
		mov %r0, 0
		exit
		viaptr:
		mov %r1, %r10
		sub %r1, 4000
		stxb [%r1], %r1
		mov %r0, 0
		exit
		atomic:
		mov %r2, 1
		lock add [%r10-2048], %r2
		mov %r0, 0
		exit
		fill:
		mov %r1, %r10
		sub %r1, 3000
		mov %r2, 100
		call 4
		mov %r0, 0
		exit
		fault:
		stw [%r10-3500], 9
		mov %r1, 0
		ldxb %r0, [%r1]
		exit
		panic:
		sth [%r10-4096], 9
		call 7
		exit`, Options{Helpers: helpers})
	vm := p.NewVM()
	mem := make([]byte, 1)
	check := func(after string) {
		t.Helper()
		mem[0] = 0
		if got, err := vm.Run(mem); err != nil || got != 0 {
			t.Fatalf("after %s: the stack sums to %d (%v); want 0, a fresh stack", after, got, err)
		}
	}
	check("nothing")
	for mode, name := range []string{1: "direct stores", 2: "a store through a copied pointer", 3: "an atomic add", 4: "a helper's write", 5: "a faulting run", 6: "a panicking helper"} {
		if mode == 0 {
			continue
		}
		mem[0] = byte(mode)
		_, err := vm.Run(mem)
		if fails := mode >= 5; (err != nil) != fails {
			t.Fatalf("%s: err = %v", name, err)
		}
		check(name)
	}
}

func TestLegacyPacketLoads(t *testing.T) {
	pkt := []byte{0x12, 0x34, 0x56, 0x78, 0x9a}
	ldAbs := func(size uint8, imm int32) isa.Instruction {
		return isa.Instruction{Opcode: isa.ClassLD | isa.ModeABS | size, Imm: imm}
	}
	ldInd := func(size, src uint8, imm int32) isa.Instruction {
		return isa.Instruction{Opcode: isa.ClassLD | isa.ModeIND | size, Src: src, Imm: imm}
	}
	mov := func(dst uint8, imm int32) isa.Instruction {
		return isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: dst, Imm: imm}
	}
	exit := isa.Instruction{Opcode: isa.OpcodeExit}
	cases := []struct {
		name  string
		insns []isa.Instruction
		want  uint64
	}{
		{"abs-w", []isa.Instruction{ldAbs(isa.SizeW, 1), exit}, 0x3456789a},
		{"abs-h", []isa.Instruction{ldAbs(isa.SizeH, 3), exit}, 0x789a},
		{"abs-b", []isa.Instruction{ldAbs(isa.SizeB, 4), exit}, 0x9a},
		{"abs-out", []isa.Instruction{mov(0, 5), ldAbs(isa.SizeW, 2), mov(0, 7), exit}, 0},
		{"abs-neg", []isa.Instruction{ldAbs(isa.SizeB, -1), mov(0, 7), exit}, 0},
		{"abs-ll-off", []isa.Instruction{ldAbs(isa.SizeH, skfLLOff+1), exit}, 0x3456},
		{"ind", []isa.Instruction{mov(3, 2), ldInd(isa.SizeH, 3, 1), exit}, 0x789a},
		{"ind-neg-reg", []isa.Instruction{mov(3, -1), ldInd(isa.SizeB, 3, 2), exit}, 0x34},
		{"ind-out", []isa.Instruction{mov(3, 4), ldInd(isa.SizeH, 3, 0), mov(0, 7), exit}, 0},
		{"clobbers-r1-r5", []isa.Instruction{mov(1, 9), mov(6, 1), ldAbs(isa.SizeB, 0), isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: 0, Src: 1}, exit}, 0x12},
		// Out of bounds in a function returns 0 from that function only.
		{"out-in-callee", []isa.Instruction{
			{Opcode: isa.OpcodeCall, Src: isa.CallLocal, Imm: 2},
			{Opcode: isa.ClassALU64 | isa.OpADD, Dst: 0, Imm: 100},
			exit,
			ldAbs(isa.SizeW, 100), mov(0, 7), exit,
		}, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Load(c.insns, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.NewVM().RunWithPacket([]byte{1}, pkt)
			if err != nil || got != c.want {
				t.Fatalf("r0 = %#x, %v; want %#x", got, err, c.want)
			}
			// Run: the packet is the memory.
			got, err = p.NewVM().Run(pkt)
			if err != nil || got != c.want {
				t.Fatalf("Run: r0 = %#x, %v; want %#x", got, err, c.want)
			}
		})
	}
}

// TestLegacyLoadBoundaries checks the legacy packet loads (run in the hot
// loop inside the packet, by the driver outside it) against a reference
// written from the package documentation, for offsets around both ends of
// packets of every small length, in the link-layer window, negative and
// wrapping around 32 bits, normally and stepping instruction by
// instruction.
func TestLegacyLoadBoundaries(t *testing.T) {
	ref := func(off uint32, n int, pkt []byte) (uint64, bool) {
		o := int64(int32(off))
		if o < 0 {
			if o < skfLLOff || o >= skfNetOff {
				return 0, false
			}
			o -= skfLLOff
		}
		if o+int64(n) > int64(len(pkt)) {
			return 0, false
		}
		var v uint64
		for _, b := range pkt[o : o+int64(n)] {
			v = v<<8 | uint64(b)
		}
		return v, true
	}
	sizes := map[int]uint8{1: isa.SizeB, 2: isa.SizeH, 4: isa.SizeW}
	offsets := []int64{-3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1<<31 - 1, 1 << 31, skfNetOff - 1, skfNetOff, skfLLOff - 1}
	for i := int64(0); i < 8; i++ {
		offsets = append(offsets, skfLLOff+i)
	}
	const marker = 1 << 40
	full := []byte{0x81, 0x42, 0x23, 0x14, 0xf5, 0x06, 0x97}
	checked := 0
	for plen := 0; plen <= len(full); plen++ {
		pkt := full[:plen]
		for n, size := range sizes {
			for _, off := range offsets {
				for _, ind := range []bool{false, true} {
					// r2 = 77 must be cleared by the load; the marker tells a
					// loaded 0 from the function's return of 0.
					load := isa.Instruction{Opcode: isa.ClassLD | isa.ModeABS | size, Imm: int32(off)}
					srcVal := int64(0)
					if ind {
						// imm + src = off in 32 bits, with src's upper half set
						// (ignored) and imm wrapping around.
						load = isa.Instruction{Opcode: isa.ClassLD | isa.ModeIND | size, Src: 3, Imm: -5}
						srcVal = 0x7_0000_0000 + int64(uint32(off)+5)
					}
					insns := []isa.Instruction{
						{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 2, Imm: 77},
					}
					src, mark := isa.LDDW(3, uint64(srcVal)), isa.LDDW(1, marker)
					insns = append(insns, src[:]...)
					insns = append(insns, load)
					insns = append(insns, mark[:]...)
					insns = append(insns,
						isa.Instruction{Opcode: isa.ClassALU64 | isa.OpOR | isa.SrcX, Dst: 0, Src: 1},
						isa.Instruction{Opcode: isa.ClassALU64 | isa.OpOR | isa.SrcX, Dst: 0, Src: 2},
						isa.Instruction{Opcode: isa.OpcodeExit})
					p, err := Load(insns, Options{})
					if err != nil {
						t.Fatal(err)
					}
					v, in := ref(uint32(off), n, pkt)
					want, executed := uint64(0), uint64(3) // mov, lddw, the load
					if in {
						want, executed = v|marker, 7
					}
					vm := p.NewVM()
					for _, step := range []bool{false, true} {
						vm.setStepAll(step)
						got, err := vm.RunWithPacket([]byte{0}, pkt)
						if err != nil || got != want || vm.Executed() != executed {
							t.Fatalf("%d-byte load at %d (ind %v, stepping %v) from a %d-byte packet: r0 = %#x, %v, executed %d; want %#x",
								n, off, ind, step, plen, got, err, vm.Executed(), want)
						}
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d loads checked", checked)
}

// Helper ids used by the environment tests.
const (
	hRegion   = 1 // returns the address of a read-only 8-byte region
	hRWRegion = 2 // returns the address of a writable 8-byte region
	hSum      = 3 // reads r2 bytes at r1 through Env.Memory and sums them
	hFill     = 4 // writes r2 bytes of 0xab at r1
	hLoop     = 5 // bpf_loop: calls the function at slot r2 r1 times with (i, r3), sums the results
	hLoop0    = 6 // calls the function at slot r2 r1 times without arguments, sums the results
)

func envHelpers(ro, rw []byte) engine.Helpers {
	return engine.Helpers{
		hRegion: func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			env.AddRegion(ro, false)
			return uint64(uintptr(unsafe.Pointer(&ro[0]))), nil
		},
		hRWRegion: func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			env.AddRegion(rw, true)
			return uint64(uintptr(unsafe.Pointer(&rw[0]))), nil
		},
		hSum: func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			b, err := env.Memory(r1, r2, false)
			if err != nil {
				return 0, err
			}
			var s uint64
			for _, c := range b {
				s += uint64(c)
			}
			return s, nil
		},
		hFill: func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			b, err := env.Memory(r1, r2, true)
			if err != nil {
				return 0, err
			}
			for i := range b {
				b[i] = 0xab
			}
			return 0, nil
		},
		hLoop: func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			var s uint64
			for i := uint64(0); i < r1; i++ {
				v, err := env.Call(int(r2), i, r3)
				if err != nil {
					return 0, err
				}
				s += v
			}
			return s, nil
		},
		hLoop0: func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			var s uint64
			for i := uint64(0); i < r1; i++ {
				v, err := env.Call(int(r2))
				if err != nil {
					return 0, err
				}
				s += v
			}
			return s, nil
		},
	}
}

func TestEnv(t *testing.T) {
	ro := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	rw := make([]byte, 8)
	opts := Options{Helpers: envHelpers(ro, rw)}
	t.Run("read-region", func(t *testing.T) {
		got, err := mustLoad(t, "call 1\nldxdw %r0, [%r0]\nexit", opts).NewVM().Run(nil)
		if err != nil || got != binary.LittleEndian.Uint64(ro) {
			t.Fatalf("r0 = %#x, %v", got, err)
		}
	})
	t.Run("write-read-only", func(t *testing.T) {
		runErr(t, mustLoad(t, "call 1\nstb [%r0+1], 1\nexit", opts), nil, engine.ErrOutOfBounds, 1, "read-only")
	})
	t.Run("write-region", func(t *testing.T) {
		p := mustLoad(t, "call 2\nstdw [%r0], 0x55\nmov %r0, 0\nexit", opts)
		if _, err := p.NewVM().Run(nil); err != nil {
			t.Fatal(err)
		}
		if rw[0] != 0x55 {
			t.Errorf("region not written: % x", rw)
		}
	})
	t.Run("region-gone-after-run", func(t *testing.T) {
		// The address from an earlier run is no longer accessible.
		vm := mustLoad(t, "call 1\nexit", opts).NewVM()
		addr, err := vm.Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		p := mustLoad(t, "lddw %r1, "+fmt.Sprintf("%#x", addr)+"\nldxb %r0, [%r1]\nexit", opts)
		runErr(t, p, nil, engine.ErrOutOfBounds, 2, "read of 1 bytes")
	})
	t.Run("memory-stack-and-mem", func(t *testing.T) {
		p := mustLoad(t, `
			stdw [%r10-8], 0x0201
			mov %r6, %r1
			mov %r7, %r2
			mov %r1, %r10
			add %r1, -8
			mov %r2, 8
			call 3
			mov %r8, %r0
			mov %r1, %r6
			mov %r2, %r7
			call 4
			mov %r0, %r8
			exit`, opts)
		mem := make([]byte, 4)
		got, err := p.NewVM().Run(mem)
		if err != nil || got != 3 {
			t.Fatalf("r0 = %d, %v; want 3", got, err)
		}
		if string(mem) != "\xab\xab\xab\xab" {
			t.Errorf("mem = % x, want ab ab ab ab", mem)
		}
	})
	t.Run("memory-out-of-bounds", func(t *testing.T) {
		p := mustLoad(t, "mov %r2, 5\ncall 3\nexit", opts)
		_, err := p.NewVM().Run(make([]byte, 4))
		checkErr(t, err, engine.ErrHelperFailed, 1, "helper 3 failed")
		if !errors.Is(err, engine.ErrOutOfBounds) {
			t.Errorf("%v does not wrap ErrOutOfBounds", err)
		}
	})
	t.Run("call", func(t *testing.T) {
		// sum over i < 10 of (i * r3), r3 = 3, through a callback; the
		// callback's r6 writes must not leak into the caller.
		p := mustLoad(t, `
			mov %r6, 1
			mov %r1, 10
			mov %r2, 7
			mov %r3, 3
			call 5
			add %r0, %r6
			exit
			cb:
			mov %r6, 1000
			mov %r0, %r1
			mul %r0, %r2
			exit`, opts)
		vm := p.NewVM()
		got, err := vm.Run(nil)
		if err != nil || got != 136 {
			t.Fatalf("r0 = %d, %v; want 136", got, err)
		}
		if vm.Executed() != 7+10*4 {
			t.Errorf("Executed() = %d, want %d", vm.Executed(), 7+10*4)
		}
	})
	t.Run("call-budget", func(t *testing.T) {
		p := mustLoad(t, "mov %r1, 1000\nmov %r2, 4\ncall 5\nexit\ncb:\nmov %r0, 1\nexit", Options{Helpers: opts.Helpers, Budget: 100})
		vm := p.NewVM()
		_, err := vm.Run(nil)
		checkErr(t, err, engine.ErrHelperFailed, 2, "budget")
		if !errors.Is(err, engine.ErrBudgetExhausted) {
			t.Errorf("%v does not wrap ErrBudgetExhausted", err)
		}
		if vm.Executed() != 100 {
			t.Errorf("Executed() = %d, want 100", vm.Executed())
		}
	})
	t.Run("call-depth", func(t *testing.T) {
		// The callback calls bpf_loop again: recursion until the limit.
		p := mustLoad(t, "mov %r1, 1\nmov %r2, 4\ncall 5\nexit\ncb:\nmov %r1, 1\nmov %r2, 4\ncall 5\nexit", opts)
		_, err := p.NewVM().Run(nil)
		if !errors.Is(err, engine.ErrCallDepth) {
			t.Fatalf("err = %v, want ErrCallDepth", err)
		}
	})
	t.Run("call-bad-pc", func(t *testing.T) {
		p := mustLoad(t, "mov %r1, 1\nlddw %r2, 2\ncall 5\nexit", opts)
		_, err := p.NewVM().Run(nil)
		if err == nil || !strings.Contains(err.Error(), "not an instruction") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("outside-run", func(t *testing.T) {
		vm := mustLoad(t, "mov %r0, 0\nexit", opts).NewVM()
		if _, err := vm.Memory(1, 1, false); err == nil {
			t.Error("Memory outside a run succeeded")
		}
		if _, err := vm.Call(0); err == nil {
			t.Error("Call outside a run succeeded")
		}
	})
}

func TestCancel(t *testing.T) {
	p := mustLoad(t, "mov %r0, 0\nloop:\nadd %r0, 1\nja loop", Options{Budget: 1 << 62})
	vm := p.NewVM()
	ctx, cancel := context.WithCancel(context.Background())
	vm.SetContext(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := vm.Run(nil)
	if !errors.Is(err, engine.ErrCancelled) {
		t.Fatalf("err = %v, want ErrCancelled", err)
	}
	// Cancelled before it starts.
	_, err = vm.Run(nil)
	if !errors.Is(err, engine.ErrCancelled) || vm.Executed() != 0 {
		t.Fatalf("err = %v, executed %d; want ErrCancelled before any instruction", err, vm.Executed())
	}
	vm.SetContext(nil)
	vm.SetBudget(100)
	if _, err := vm.Run(nil); !errors.Is(err, engine.ErrBudgetExhausted) {
		t.Fatalf("without context: err = %v, want ErrBudgetExhausted", err)
	}
}

func TestNoAllocations(t *testing.T) {
	ro := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	// Every kind of work a run does: memory and stack access, local calls,
	// atomics, helper calls that add regions, read memory and call back.
	// (The callback takes no arguments: Env.Call's variadic arguments are
	// allocated by the helper calling it through the interface.)
	p := mustLoad(t, `
		ja main
		cb:
		mov %r0, %r1
		exit
		f:
		lock add [%r10-8], %r2
		exit
		main:
		mov %r6, %r1
		mov %r9, %r1
		add %r9, %r2
		mov %r7, 0
		stdw [%r10-8], 0
		loop:
		ldxb %r2, [%r6]
		add %r7, %r2
		stxb [%r10-1], %r2
		call local f
		call 1
		ldxb %r3, [%r0+2]
		add %r7, %r3
		mov %r1, %r10
		add %r1, -8
		mov %r2, 8
		call 3
		add %r7, %r0
		mov %r1, 3
		mov %r2, 1
		call 6
		add %r7, %r0
		add %r6, 1
		jne %r6, %r9, loop
		mov %r0, %r7
		exit`, Options{Helpers: envHelpers(ro, make([]byte, 8))})
	vm := p.NewVM()
	mem := make([]byte, 64)
	for i := range mem {
		mem[i] = byte(i)
	}
	var err error
	var r0 uint64
	allocs := testing.AllocsPerRun(100, func() {
		r0, err = vm.Run(mem)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Per byte i: i (mem) + 3 (ro[2]) + i (the stack bytes hSum adds up)
	// + 0 (callbacks get r1 = 0): sum of 2i+3 for i < 64.
	if r0 != 4224 {
		t.Fatalf("r0 = %d, want 4224", r0)
	}
	if allocs != 0 {
		t.Errorf("a run allocates %.1f times, want 0", allocs)
	}
}

// TestConcurrentRuns runs one Program on many VMs at once; the atomic adds
// on a shared map-value-like region must not lose updates (run with -race).
func TestConcurrentRuns(t *testing.T) {
	shared := make([]byte, 16)
	helpers := engine.Helpers{
		1: func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			env.AddRegion(shared, true)
			return uint64(uintptr(unsafe.Pointer(&shared[0]))), nil
		},
	}
	p := mustLoad(t, `
		call 1
		mov %r6, %r0
		mov %r7, 0
		loop:
		mov %r1, 1
		lock add [%r6], %r1
		mov %r1, 2
		lock fetch add32 [%r6+8], %r1
		add %r7, 1
		jne %r7, 1000, loop
		mov %r0, %r7
		exit`, Options{Helpers: helpers})
	const workers, runs = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vm := p.NewVM()
			mem := make([]byte, 8)
			for i := 0; i < runs; i++ {
				if got, err := vm.Run(mem); err != nil || got != 1000 {
					errs <- fmt.Errorf("r0 = %d, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, want := binary.LittleEndian.Uint64(shared), uint64(workers*runs*1000); got != want {
		t.Errorf("64-bit counter = %d, want %d", got, want)
	}
	if got, want := binary.LittleEndian.Uint32(shared[8:]), uint32(2*workers*runs*1000); got != want {
		t.Errorf("32-bit counter = %d, want %d", got, want)
	}
}

func TestVMSettings(t *testing.T) {
	p := mustLoad(t, "mov %r0, 0\nloop:\nadd %r0, 1\nja loop", Options{Budget: 50})
	vm := p.NewVM()
	vm.SetBudget(7)
	if _, err := vm.Run(nil); !errors.Is(err, engine.ErrBudgetExhausted) || vm.Executed() != 7 {
		t.Fatalf("SetBudget(7): %v, executed %d", err, vm.Executed())
	}
	vm.SetBudget(0) // back to the program's budget
	if _, err := vm.Run(nil); !errors.Is(err, engine.ErrBudgetExhausted) || vm.Executed() != 50 {
		t.Fatalf("SetBudget(0): %v, executed %d", err, vm.Executed())
	}
	// Another VM of the same program has the program's budget.
	vm.SetBudget(3)
	vm2 := p.NewVM()
	if _, err := vm2.Run(nil); !errors.Is(err, engine.ErrBudgetExhausted) || vm2.Executed() != 50 {
		t.Fatalf("second VM: %v, executed %d", err, vm2.Executed())
	}
}

func TestReentrantRunRefused(t *testing.T) {
	var vm *VM
	var inner error
	p := mustLoad(t, "call 1\nexit", Options{Helpers: engine.Helpers{1: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
		_, inner = vm.Run(nil)
		return 3, nil
	}}})
	vm = p.NewVM()
	got, err := vm.Run(nil)
	if err != nil || got != 3 {
		t.Fatalf("r0 = %d, %v", got, err)
	}
	if inner == nil || !strings.Contains(inner.Error(), "already running") {
		t.Fatalf("nested Run: %v, want a refusal", inner)
	}
}

func TestEnvEdges(t *testing.T) {
	var memErr error
	var empty []byte
	p := mustLoad(t, "mov %r1, 0\ncall 1\nexit", Options{Helpers: engine.Helpers{1: func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
		empty, memErr = env.Memory(0, 0, true) // zero bytes: nothing to check
		env.AddRegion(nil, true)               // ignored
		if _, err := env.Memory(0, 1, false); !errors.Is(err, engine.ErrOutOfBounds) {
			return 0, fmt.Errorf("Memory(0, 1) = %v, want ErrOutOfBounds", err)
		}
		if _, err := env.Memory(1<<40, 1<<40, false); !errors.Is(err, engine.ErrOutOfBounds) {
			return 0, fmt.Errorf("huge Memory = %v, want ErrOutOfBounds", err)
		}
		if _, err := env.Call(0, 1, 2, 3, 4, 5, 6); err == nil {
			return 0, errors.New("Call with 6 arguments succeeded")
		}
		return 1, nil
	}}})
	vm := p.NewVM()
	if got, err := vm.Run(nil); err != nil || got != 1 {
		t.Fatalf("r0 = %d, %v", got, err)
	}
	if memErr != nil || empty == nil || len(empty) != 0 {
		t.Errorf("Memory(0, 0) = %v, %v; want an empty slice", empty, memErr)
	}
	// AddRegion outside a run is ignored.
	vm.AddRegion(make([]byte, 8), true)
	if len(vm.regions) != 0 {
		t.Errorf("AddRegion outside a run added a region")
	}
}

// TestPacketRegion: with RunWithPacket the packet is also addressable
// through a pointer (here found by a helper) and writable.
func TestPacketRegion(t *testing.T) {
	pkt := []byte{1, 2, 3, 4}
	p := mustLoad(t, "call 1\nldxb %r1, [%r0+3]\nstb [%r0], 9\nmov %r0, %r1\nexit", Options{Helpers: engine.Helpers{1: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
		return uint64(uintptr(unsafe.Pointer(&pkt[0]))), nil
	}}})
	got, err := p.NewVM().RunWithPacket(make([]byte, 2), pkt)
	if err != nil || got != 4 || pkt[0] != 9 {
		t.Fatalf("r0 = %d, %v, packet % x", got, err, pkt)
	}
	// With Run, the packet is not part of the run.
	_, err = p.NewVM().Run(make([]byte, 2))
	checkErr(t, err, engine.ErrOutOfBounds, 1, "read of 1 bytes")
}

// TestRegionsEndWithTheirRun: memory a run could access (mem, the packet,
// regions added by helpers, whichever the access caches held) is not
// accessible to the next run unless passed again. A helper hands the
// program an address, which it reads and writes.
func TestRegionsEndWithTheirRun(t *testing.T) {
	var addr unsafe.Pointer
	var add []byte
	p := mustLoad(t, "call 1\nmov %r6, %r0\nldxb %r0, [%r6]\nstb [%r6], 1\nexit", Options{Helpers: engine.Helpers{1: func(env engine.Env, _, _, _, _, _ uint64) (uint64, error) {
		if add != nil {
			env.AddRegion(add, true)
		}
		return uint64(uintptr(addr)), nil
	}}})
	vm := p.NewVM()
	mem, pkt, rw := make([]byte, 8), make([]byte, 8), make([]byte, 8)
	steps := []struct {
		name     string
		mem, pkt []byte
		addr     []byte
		add      []byte
		ok       bool
	}{
		{"mem", mem, nil, mem, nil, true},
		{"mem after it was mem", nil, nil, mem, nil, false},
		{"mem again", mem, nil, mem, nil, true},
		{"packet", mem, pkt, pkt, nil, true},
		{"packet after it was the packet", mem, nil, pkt, nil, false},
		{"packet with no mem", nil, pkt, pkt, nil, true},
		{"packet, then no memory", nil, nil, pkt, nil, false},
		{"helper region", mem, nil, rw, rw, true},
		{"helper region after it was added", mem, nil, rw, nil, false},
		{"helper region, no mem", nil, nil, rw, rw, true},
		{"helper region after it was added, no mem", nil, nil, rw, nil, false},
	}
	for _, s := range steps {
		addr, add = unsafe.Pointer(&s.addr[0]), s.add
		_, err := vm.RunWithPacket(s.mem, s.pkt)
		if s.ok && err != nil || !s.ok && !errors.Is(err, engine.ErrOutOfBounds) {
			t.Fatalf("%s: err = %v, want ok = %v", s.name, err, s.ok)
		}
	}
}

func TestInstructionsCopy(t *testing.T) {
	insns, err := asm.Assemble("mov %r0, 1\nexit")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(insns, Options{})
	if err != nil {
		t.Fatal(err)
	}
	insns[0].Imm = 2 // Load copied the program
	got := p.Instructions()
	if len(got) != 2 || got[0].Imm != 1 {
		t.Fatalf("Instructions() = %v", got)
	}
	got[0].Imm = 3 // and Instructions returns a copy
	if r0, err := p.NewVM().Run(nil); err != nil || r0 != 1 || p.Instructions()[0].Imm != 1 {
		t.Fatalf("r0 = %d, %v", r0, err)
	}
}

// TestByteOrderDecoding checks which operation le/be/bswap become on either
// host byte order (the tests run on little-endian machines, so the
// big-endian choice is checked at the decoding level).
func TestByteOrderDecoding(t *testing.T) {
	defer func(saved bool) { hostBigEndian = saved }(hostBigEndian)
	cases := []struct {
		src    string
		le, be uint8 // kind on a little- / big-endian host
	}{
		{"le16 %r0", opZext16, opSwap16},
		{"le32 %r0", opZext32, opSwap32},
		{"le64 %r0", opNop, opSwap64},
		{"be16 %r0", opSwap16, opZext16},
		{"be32 %r0", opSwap32, opZext32},
		{"be64 %r0", opSwap64, opNop},
		{"bswap16 %r0", opSwap16, opSwap16},
		{"bswap32 %r0", opSwap32, opSwap32},
		{"bswap64 %r0", opSwap64, opSwap64},
	}
	for _, c := range cases {
		insns, err := asm.Assemble(c.src + "\nexit")
		if err != nil {
			t.Fatal(err)
		}
		for _, big := range []bool{false, true} {
			hostBigEndian = big
			o, err := decode(insns, 0)
			want := c.le
			if big {
				want = c.be
			}
			if err != nil || o.kind != want {
				t.Errorf("%s on a big-endian host = %v: kind %d, %v; want %d", c.src, big, o.kind, err, want)
			}
		}
	}
}
