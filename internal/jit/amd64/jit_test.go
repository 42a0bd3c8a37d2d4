//go:build linux && amd64

package amd64_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

func assemble(t testing.TB, src string) []isa.Instruction {
	t.Helper()
	insns, err := asm.Assemble(src)
	if err != nil {
		t.Fatalf("assemble: %v\n%s", err, src)
	}
	return insns
}

func load(t testing.TB, src string, opts amd64.Options) *amd64.Program {
	t.Helper()
	p, err := amd64.Load(assemble(t, src), opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestNoWritableExecutableMapping loads and runs programs, then checks
// /proc/self/maps: no mapping of the process may be writable and executable
// at once, and the code of each program is mapped read-execute.
func TestNoWritableExecutableMapping(t *testing.T) {
	var progs []*amd64.Program
	for k := 0; k < 4; k++ {
		p := load(t, fmt.Sprintf("mov %%r0, %d\nexit", k), amd64.Options{})
		if r0, err := p.NewVM().Run(nil); err != nil || r0 != uint64(k) {
			t.Fatalf("run: %d, %v", r0, err)
		}
		progs = append(progs, p)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skipf("cannot read /proc/self/maps: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	executable := 0
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		perms := fields[1]
		if strings.Contains(perms, "w") && strings.Contains(perms, "x") {
			t.Errorf("writable and executable mapping: %s", s.Text())
		}
		if perms == "r-xp" && len(fields) == 5 { // anonymous read-execute: JIT code
			executable++
		}
	}
	if executable == 0 {
		t.Error("no anonymous read-execute mapping found: where is the JIT code?")
	}
	for _, p := range progs {
		p.Close()
	}
}

// TestCancel shows a cancelled context stops an infinite loop within a
// millisecond.
func TestCancel(t *testing.T) {
	p := load(t, "mov %r0, 0\nloop:\nadd %r0, 1\nja loop", amd64.Options{})
	vm := p.NewVM()
	vm.SetBudget(math.MaxUint64)
	best := time.Hour
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithCancel(context.Background())
		vm.SetContext(ctx)
		var cancelledAt time.Time
		timer := time.AfterFunc(20*time.Millisecond, func() {
			cancelledAt = time.Now()
			cancel()
		})
		_, err := vm.Run(nil)
		stopped := time.Now()
		timer.Stop()
		cancel()
		if !errors.Is(err, engine.ErrCancelled) {
			t.Fatalf("run ended with %v, want ErrCancelled", err)
		}
		latency := stopped.Sub(cancelledAt)
		t.Logf("attempt %d: stopped %v after cancel, %d instructions", attempt, latency, vm.Executed())
		best = min(best, latency)
	}
	if best > time.Millisecond {
		t.Errorf("best latency from cancel to return %v, want under 1ms", best)
	}
	// Cancelled before it starts: no instruction runs.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	vm.SetContext(ctx)
	if _, err := vm.Run(nil); !errors.Is(err, engine.ErrCancelled) || vm.Executed() != 0 {
		t.Errorf("run with a cancelled context: %v, executed %d", err, vm.Executed())
	}
	vm.SetContext(nil)
	vm.SetBudget(1000)
	if _, err := vm.Run(nil); !errors.Is(err, engine.ErrBudgetExhausted) || vm.Executed() != 1000 {
		t.Errorf("run without context: %v, executed %d; want budget exhausted after 1000", err, vm.Executed())
	}
}

// TestNoAllocations checks a run, including helper calls, a local call and
// stack use, allocates nothing.
func TestNoAllocations(t *testing.T) {
	helpers := engine.Helpers{7: func(_ engine.Env, r1, _, _, _, _ uint64) (uint64, error) { return r1 + 1, nil }}
	p := load(t, `
		stxdw [%r10-8], %r2
		ldxdw %r1, [%r10-8]
		call 7
		mov %r1, %r0
		call local f
		exit
	f:
		add %r1, 2
		stxdw [%r10-16], %r1
		ldxdw %r0, [%r10-16]
		exit`, amd64.Options{Helpers: helpers})
	vm := p.NewVM()
	mem := make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		r0, err := vm.Run(mem)
		if err != nil || r0 != 19 {
			t.Fatalf("run: %d, %v", r0, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
}

// TestConcurrentRuns runs one program on many VMs at once (run with -race).
func TestConcurrentRuns(t *testing.T) {
	p := load(t, `
		mov %r0, 0
		mov %r3, 0
	loop:
		ldxb %r4, [%r1]
		add %r0, %r4
		stxdw [%r10-8], %r0
		add %r3, 1
		jlt %r3, 100, loop
		lock add [%r1+8], %r3
		exit`, amd64.Options{})
	var wg sync.WaitGroup
	shared := make([]byte, 16)
	shared[0] = 3
	var mu sync.Mutex
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vm := p.NewVM()
			for k := 0; k < 200; k++ {
				mu.Lock() // the program's plain load races with other runs' atomics otherwise
				r0, err := vm.Run(shared)
				mu.Unlock()
				if err != nil || r0 != 300 {
					t.Errorf("run: %d, %v", r0, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := binary.LittleEndian.Uint64(shared[8:]); got != 8*200*100 {
		t.Errorf("counter %d, want %d", got, 8*200*100)
	}
}

func runErr(t *testing.T, src string, opts amd64.Options, mem []byte) (uint64, error, *amd64.VM) {
	t.Helper()
	p := load(t, src, opts)
	vm := p.NewVM()
	r0, err := vm.Run(mem)
	return r0, err, vm
}

func wantRunError(t *testing.T, err error, sentinel error, index int) {
	t.Helper()
	var ie *isa.InstructionError
	if !errors.Is(err, sentinel) || !errors.As(err, &ie) || ie.Index != index {
		t.Fatalf("error %v, want %v at instruction %d", err, sentinel, index)
	}
}

func TestRunErrors(t *testing.T) {
	helpers := engine.Helpers{
		1: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) { return 0, errors.New("boom") },
	}
	t.Run("read past memory", func(t *testing.T) {
		_, err, vm := runErr(t, "mov %r0, 1\nldxw %r0, [%r1+6]\nexit", amd64.Options{}, make([]byte, 8))
		wantRunError(t, err, engine.ErrOutOfBounds, 1)
		if vm.Executed() != 2 {
			t.Errorf("executed %d, want 2", vm.Executed())
		}
	})
	t.Run("write before memory", func(t *testing.T) {
		_, err, _ := runErr(t, "stb [%r1-1], 1\nexit", amd64.Options{}, make([]byte, 8))
		wantRunError(t, err, engine.ErrOutOfBounds, 0)
	})
	t.Run("null pointer", func(t *testing.T) {
		_, err, _ := runErr(t, "mov %r1, 0\nldxdw %r0, [%r1]\nexit", amd64.Options{}, nil)
		wantRunError(t, err, engine.ErrOutOfBounds, 1)
	})
	t.Run("stack above the frame", func(t *testing.T) {
		_, err, _ := runErr(t, "ldxdw %r0, [%r10]\nexit", amd64.Options{}, nil)
		wantRunError(t, err, engine.ErrOutOfBounds, 0)
	})
	t.Run("misaligned atomic", func(t *testing.T) {
		_, err, _ := runErr(t, "mov %r2, 1\nlock add [%r1+4], %r2\nexit", amd64.Options{}, make([]byte, 16))
		wantRunError(t, err, engine.ErrOutOfBounds, 1)
	})
	t.Run("helper failure", func(t *testing.T) {
		_, err, _ := runErr(t, "mov %r0, 0\ncall 1\nexit", amd64.Options{Helpers: helpers}, nil)
		wantRunError(t, err, engine.ErrHelperFailed, 1)
		if !strings.Contains(err.Error(), "boom") {
			t.Errorf("error %q does not carry the helper's", err)
		}
	})
	t.Run("callx unknown", func(t *testing.T) {
		_, err, _ := runErr(t, "mov %r3, 9\ncall %r3\nexit", amd64.Options{Helpers: helpers}, nil)
		wantRunError(t, err, engine.ErrUnknownHelper, 1)
	})
	t.Run("call depth", func(t *testing.T) {
		_, err, _ := runErr(t, "f:\ncall local f\nexit", amd64.Options{}, nil)
		wantRunError(t, err, engine.ErrCallDepth, 0)
	})
	t.Run("budget", func(t *testing.T) {
		// 1 + 3*k instructions after k iterations; a budget of 8 runs
		// the third iteration's first add and stops before the second.
		_, err, vm := runErr(t, "mov %r0, 0\nl:\nadd %r0, 1\nadd %r0, 1\nja l", amd64.Options{Budget: 8}, nil)
		wantRunError(t, err, engine.ErrBudgetExhausted, 2)
		if vm.Executed() != 8 {
			t.Errorf("executed %d, want 8", vm.Executed())
		}
	})
	t.Run("unknown helper at load", func(t *testing.T) {
		_, err := amd64.Load(assemble(t, "call 42\nexit"), amd64.Options{})
		var ie *isa.InstructionError
		if !errors.Is(err, engine.ErrUnknownHelper) || !errors.As(err, &ie) || ie.Index != 0 {
			t.Fatalf("load error %v", err)
		}
	})
	t.Run("unsupported", func(t *testing.T) {
		insns := []isa.Instruction{{Opcode: isa.OpcodeLDDW, Src: isa.PseudoMapFD, Imm: 3}, {}, {Opcode: isa.OpcodeExit}}
		if _, err := amd64.Load(insns, amd64.Options{}); !errors.Is(err, amd64.ErrUnsupported) {
			t.Errorf("map lddw: %v", err)
		}
		insns = []isa.Instruction{{Opcode: isa.OpcodeCall, Src: isa.CallKfunc, Imm: 3}, {Opcode: isa.OpcodeExit}}
		if _, err := amd64.Load(insns, amd64.Options{}); !errors.Is(err, amd64.ErrUnsupported) {
			t.Errorf("kfunc: %v", err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		if _, err := amd64.Load(nil, amd64.Options{}); !errors.Is(err, isa.ErrInvalidProgram) {
			t.Errorf("empty program: %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		p := load(t, "mov %r0, 1\nexit", amd64.Options{})
		vm := p.NewVM()
		p.Close()
		p.Close()
		if _, err := vm.Run(nil); !errors.Is(err, amd64.ErrClosed) {
			t.Errorf("run after close: %v", err)
		}
	})
}

// TestEnv exercises the engine.Env the JIT gives helpers: memory access to
// the stack and input, regions added during the run (inline checks miss
// them, so accesses exit to Go), read-only regions and callbacks.
func TestEnv(t *testing.T) {
	region := make([]byte, 16)
	readOnly := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	regionAddr := func(b []byte) uint64 {
		return uint64(uintptr(unsafeAddr(b)))
	}
	helpers := engine.Helpers{
		// 1: sum the bytes at r1..r1+r2 (through Env.Memory).
		1: func(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
			b, err := env.Memory(r1, r2, false)
			if err != nil {
				return 0, err
			}
			var s uint64
			for _, v := range b {
				s += uint64(v)
			}
			return s, nil
		},
		// 2: add a writable region and return its address.
		2: func(env engine.Env, _, _, _, _, _ uint64) (uint64, error) {
			env.AddRegion(region, true)
			return regionAddr(region), nil
		},
		// 3: add a read-only region and return its address.
		3: func(env engine.Env, _, _, _, _, _ uint64) (uint64, error) {
			env.AddRegion(readOnly, false)
			return regionAddr(readOnly), nil
		},
		// 4: call the function at instruction r1 with r1, r2 and r3.
		4: func(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
			return env.Call(int(r1), r1, r2, r3)
		},
	}
	opts := amd64.Options{Helpers: helpers}
	t.Run("stack memory", func(t *testing.T) {
		r0, err, _ := runErr(t, `
			stdw [%r10-8], 0x0102
			stdw [%r10-16], 0x0304
			mov %r1, %r10
			add %r1, -16
			mov %r2, 16
			call 1
			exit`, opts, nil)
		if err != nil || r0 != 10 {
			t.Fatalf("got %d, %v; want 10", r0, err)
		}
	})
	t.Run("added region", func(t *testing.T) {
		r0, err, _ := runErr(t, `
			call 2
			stdw [%r0+8], 42
			ldxdw %r1, [%r0+8]
			lock add [%r0], %r1
			ldxdw %r0, [%r0]
			exit`, opts, nil)
		if err != nil || r0 != 42 || region[8] != 42 {
			t.Fatalf("got %d, %v; want 42", r0, err)
		}
	})
	t.Run("read-only region", func(t *testing.T) {
		r0, err, _ := runErr(t, "call 3\nldxb %r0, [%r0+7]\nexit", opts, nil)
		if err != nil || r0 != 8 {
			t.Fatalf("read: %d, %v", r0, err)
		}
		_, err, _ = runErr(t, "call 3\nstb [%r0+7], 1\nexit", opts, nil)
		wantRunError(t, err, engine.ErrOutOfBounds, 1)
		_, err, _ = runErr(t, "call 3\nldxb %r0, [%r0+8]\nexit", opts, nil)
		wantRunError(t, err, engine.ErrOutOfBounds, 1)
	})
	t.Run("regions end with the run", func(t *testing.T) {
		p := load(t, "call 2\nexit", opts)
		vm := p.NewVM()
		if _, err := vm.Run(nil); err != nil {
			t.Fatal(err)
		}
		p2 := load(t, fmt.Sprintf("lddw %%r1, %#x\nldxb %%r0, [%%r1]\nexit", regionAddr(region)), opts)
		_, err := p2.NewVM().Run(nil)
		wantRunError(t, err, engine.ErrOutOfBounds, 2)
	})
	t.Run("callback", func(t *testing.T) {
		// The callback (instruction 8) writes its own frame, reads the
		// caller's through a pointer and returns r1*r2 + that value; r6
		// survives.
		r0, err, vm := runErr(t, `
			mov %r6, 100
			stdw [%r10-8], 5
			mov %r1, 8
			mov %r2, 6
			mov %r3, %r10
			call 4
			add %r0, %r6
			exit
			stxdw [%r10-8], %r1
			mov %r6, 1
			ldxdw %r0, [%r10-8]
			mul %r0, %r2
			ldxdw %r4, [%r3-8]
			add %r0, %r4
			exit`, opts, nil)
		if err != nil || r0 != 8*6+5+100 {
			t.Fatalf("got %d, %v; want %d", r0, err, 8*6+5+100)
		}
		if vm.Executed() != 15 { // 6 + the callback's 7 + 2
			t.Errorf("executed %d, want 15", vm.Executed())
		}
	})
	t.Run("outside a run", func(t *testing.T) {
		p := load(t, "exit", opts)
		vm := p.NewVM()
		if _, err := vm.Memory(0, 1, false); !errors.Is(err, engine.ErrOutOfBounds) {
			t.Errorf("Memory outside a run: %v", err)
		}
		if _, err := vm.Call(0); err == nil {
			t.Error("Call outside a run succeeded")
		}
	})
}

// TestLegacyLoads checks LD_ABS/LD_IND against the packet of RunWithPacket,
// including the link-layer offset base and out-of-bounds returns.
func TestLegacyLoads(t *testing.T) {
	pkt := []byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
	for _, c := range []struct {
		src  string
		want uint64
	}{
		{"ldabsw 0\nexit", 0x11223344},
		{"ldabsh 4\nexit", 0x5566},
		{"ldabsb 5\nexit", 0x66},
		{"ldabsw 3\nexit", 0},
		{"mov %r3, 2\nldindh %r3, 1\nexit", 0x4455},
		{"mov %r3, -1\nldindb %r3, 1\nexit", 0x11},
		{"mov %r3, -2097152\nldindb %r3, 2\nexit", 0x33},
		{"mov %r3, -1048576\nldindb %r3, 2\nexit", 0},
		{"mov %r1, 7\nldabsb 0\nmov %r0, %r1\nexit", 0},
	} {
		insns, err := asm.Assemble(c.src)
		if err != nil {
			t.Skipf("the assembler has no legacy load syntax (%v): covered by the differential tests", err)
		}
		p, err := amd64.Load(insns, amd64.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r0, err := p.NewVM().RunWithPacket(nil, pkt)
		p.Close()
		if err != nil || r0 != c.want {
			t.Errorf("%q: got %#x, %v; want %#x", c.src, r0, err, c.want)
		}
	}
}

// TestBlindConstants checks that with blinding a program's constants do not
// appear in its code, and that it still computes the same.
func TestBlindConstants(t *testing.T) {
	src := "lddw %r0, 0x1122334455667788\nmov32 %r1, 0x5eadbeef\nadd %r0, %r1\nstw [%r10-4], 0x6ec0ffee\nldxw %r2, [%r10-4]\nadd %r0, %r2\njeq %r2, 0x7bad1dea, +1\nexit\nexit"
	insns := assemble(t, src)
	var results [2]uint64
	for k, blind := range []bool{false, true} {
		p, err := amd64.Load(insns, amd64.Options{BlindConstants: blind})
		if err != nil {
			t.Fatal(err)
		}
		code := amd64.Code(p)
		for _, c := range []uint32{0x55667788, 0x11223344, 0x5eadbeef, 0x6ec0ffee, 0x7bad1dea} {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], c)
			if found := strings.Contains(string(code), string(b[:])); found == blind {
				t.Errorf("blinding %v: constant %#x in the code: %v", blind, c, found)
			}
		}
		r0, err := p.NewVM().Run(nil)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		results[k] = r0
	}
	if want := uint64(0x1122334455667788 + 0x5eadbeef + 0x6ec0ffee); results[0] != want || results[1] != want {
		t.Errorf("results %#x, want %#x", results, want)
	}
}

// TestCalleeSavedRegisters checks r6-r9 survive local calls, including
// through a callee that does not write them itself but calls one that does
// (only the registers a callee may write are saved around a call).
func TestCalleeSavedRegisters(t *testing.T) {
	r0, err, _ := runErr(t, `
		mov %r6, 6
		mov %r7, 7
		mov %r8, 8
		mov %r9, 9
		call local f
		mul %r6, 1000
		add %r0, %r6
		mul %r7, 100
		add %r0, %r7
		mul %r8, 10
		add %r0, %r8
		add %r0, %r9
		exit
	f:
		call local g
		add %r0, 1
		exit
	g:
		mov %r6, 60
		mov %r7, 70
		mov %r8, 80
		mov %r9, 90
		mov %r0, 0
		exit`, amd64.Options{}, nil)
	if want := uint64(6000 + 700 + 80 + 9 + 1); err != nil || r0 != want {
		t.Fatalf("got %d, %v; want %d", r0, err, want)
	}
}

// grow recurses to force the goroutine stack to grow (and move).
//
//go:noinline
func grow(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return grow(n-1) + int(pad[n%256])
}

// TestGCAndStackMoves runs programs whose helper allocates and grows the
// goroutine stack while the garbage collector runs continuously: generated
// code must never depend on anything Go may move between exits.
func TestGCAndStackMoves(t *testing.T) {
	helpers := engine.Helpers{1: func(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
		garbage := make([]byte, 1<<10)
		defer runtime.KeepAlive(garbage)
		b, err := env.Memory(r1, 8, true)
		if err != nil {
			return 0, err
		}
		b[0]++
		return uint64(grow(int(r2%64) + 200)), nil
	}}
	p := load(t, `
		mov %r6, %r1
		mov %r7, 0
	loop:
		mov %r1, %r6
		mov %r2, %r7
		call 1
		add %r7, 1
		jlt %r7, 200, loop
		ldxb %r0, [%r6]
		exit`, amd64.Options{Helpers: helpers})
	stopGC := collectContinuously()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vm := p.NewVM()
			for k := 0; k < 20; k++ {
				mem := make([]byte, 8)
				if r0, err := vm.Run(mem); err != nil || r0 != 200 {
					t.Errorf("run: %d, %v", r0, err)
					return
				}
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	stopGC()
	wg.Wait()
}

// TestStackClearedBetweenRuns checks each run starts with a zeroed stack, as
// in the interpreter, also in the frames of called functions.
func TestStackClearedBetweenRuns(t *testing.T) {
	p := load(t, `
		ldxdw %r6, [%r10-8]
		stdw [%r10-8], 1
		call local f
		add %r0, %r6
		exit
	f:
		ldxdw %r7, [%r10-16]
		stdw [%r10-16], 2
		call local g
		add %r0, %r7
		exit
	g:
		ldxdw %r0, [%r10-504]
		stdw [%r10-504], 3
		exit`, amd64.Options{})
	vm := p.NewVM()
	for k := 0; k < 3; k++ {
		if r0, err := vm.Run(nil); err != nil || r0 != 0 {
			t.Fatalf("run %d: %d, %v; want 0 (a stale stack)", k, r0, err)
		}
	}
}

// TestStackRegionResetAfterFailure checks a run that fails in a called
// function leaves nothing behind: the next run's stack region is the entry
// frame only, so an access above it fails.
func TestStackRegionResetAfterFailure(t *testing.T) {
	p := load(t, `
		jeq %r2, 3, deep
		mov %r3, %r10
		ldxdw %r0, [%r3+8]
		exit
	deep:
		call local f
		exit
	f:
		ldxdw %r0, [%r1+8]
		exit`, amd64.Options{})
	vm := p.NewVM()
	for k := 0; k < 2; k++ {
		_, err := vm.Run(make([]byte, 3))
		wantRunError(t, err, engine.ErrOutOfBounds, 6)
		_, err = vm.Run(make([]byte, 16))
		wantRunError(t, err, engine.ErrOutOfBounds, 2)
	}
}

// TestBufferChanges alternates the buffers of one VM's runs: the inline
// regions must follow them (writes land in the run's buffer, the old
// buffer is out of bounds).
func TestBufferChanges(t *testing.T) {
	p := load(t, `
		mov %r3, %r1
		add %r3, %r2
		stb [%r3-1], 7
		ldabsb 0
		exit`, amd64.Options{})
	vm := p.NewVM()
	a, b, pkt := make([]byte, 16), make([]byte, 8), []byte{42}
	for k := 0; k < 3; k++ {
		for _, c := range []struct {
			mem, pkt []byte
			want     uint64
		}{{a, nil, 0}, {b, nil, 0}, {b, pkt, 42}, {a[:4], nil, 0}, {a, a, 0}, {nil, nil, 0}} {
			clear(c.mem)
			var r0 uint64
			var err error
			if c.pkt != nil {
				r0, err = vm.RunWithPacket(c.mem, c.pkt)
			} else {
				r0, err = vm.Run(c.mem)
			}
			if len(c.mem) == 0 {
				wantRunError(t, err, engine.ErrOutOfBounds, 2)
				continue
			}
			if err != nil || r0 != c.want {
				t.Fatalf("run on %d bytes: %d, %v; want %d", len(c.mem), r0, err, c.want)
			}
			if c.mem[len(c.mem)-1] != 7 {
				t.Fatalf("run on %d bytes: the store missed the buffer", len(c.mem))
			}
			if vm.Executed() != 5 {
				t.Fatalf("executed %d, want 5", vm.Executed())
			}
		}
	}
}

// endRun is an error a helper ends a run with to ask the runner for
// something, as internal/helpers' tail call request does.
type endRun struct{ target int }

func (e *endRun) Error() string { return fmt.Sprintf("end run, go to %d", e.target) }

// TestHelperEndsRun checks a helper's error reaches the caller with its
// type intact (a runner finds a tail call request with errors.As), from
// the fast helper path and from a callback, and that the run counts the
// same instructions as on the interpreter.
func TestHelperEndsRun(t *testing.T) {
	helpers := engine.Helpers{
		12: func(_ engine.Env, _, _, r3, _, _ uint64) (uint64, error) {
			if r3 == 0 {
				return uint64(1<<64 - 2), nil // -ENOENT: the call falls through
			}
			return 0, &endRun{target: int(r3)}
		},
		13: func(env engine.Env, r1, _, _, _, _ uint64) (uint64, error) { return env.Call(int(r1)) },
	}
	src := `
		mov %r6, %r1
		mov %r3, 0
		call 12
		mov %r7, %r0
		ldxb %r3, [%r6]
		jeq %r3, 9, cb
		call 12
		mov %r0, 1
		exit
	cb:
		mov %r1, 12
		call 13
		exit
		mov %r3, 5
		call 12
		exit`
	insns := assemble(t, src)
	for _, c := range []struct {
		first  byte
		target int
		index  int
	}{{3, 3, 6}, {9, 5, 10}} {
		ip, err := interp.Load(insns, interp.Options{Helpers: helpers})
		if err != nil {
			t.Fatal(err)
		}
		ivm := ip.NewVM()
		_, ierr := ivm.Run([]byte{c.first})
		vm := load(t, src, amd64.Options{Helpers: helpers}).NewVM()
		for k := 0; k < 2; k++ {
			_, err := vm.Run([]byte{c.first})
			var er *endRun
			if !errors.As(err, &er) || er.target != c.target {
				t.Fatalf("first byte %d: error %v, want the helper's request for %d", c.first, err, c.target)
			}
			wantRunError(t, err, engine.ErrHelperFailed, c.index)
			if vm.Executed() != ivm.Executed() || ierr == nil {
				t.Errorf("first byte %d: executed %d, interpreter %d (%v)", c.first, vm.Executed(), ivm.Executed(), ierr)
			}
		}
	}
}

// TestHelperRegionsInline checks the inline cache of helper-added regions:
// after the first access, loads and stores in a writable region and loads
// in a read-only one pass inline, a store to the read-only one still
// fails, and nothing of it survives the run.
func TestHelperRegionsInline(t *testing.T) {
	ro, rw := make([]byte, 64), make([]byte, 64)
	ro[8] = 5
	helpers := engine.Helpers{
		1: func(env engine.Env, _, _, _, _, _ uint64) (uint64, error) {
			env.AddRegion(ro, false)
			return uint64(uintptr(unsafeAddr(ro))), nil
		},
		2: func(env engine.Env, _, _, _, _, _ uint64) (uint64, error) {
			env.AddRegion(rw, true)
			return uint64(uintptr(unsafeAddr(rw))), nil
		},
	}
	p := load(t, `
		mov %r9, %r1
		ldxb %r8, [%r9]
		jeq %r8, 2, stale
		call 1
		mov %r6, %r0
		call 2
		mov %r7, %r0
		mov %r0, 0
		mov %r1, 0
	loop:
		ldxb %r2, [%r6+8]
		add %r0, %r2
		ldxb %r2, [%r7+1]
		add %r2, 1
		stxb [%r7+1], %r2
		add %r1, 1
		jlt %r1, 3, loop
		jeq %r8, 0, out
		stxb [%r6+8], %r1
	out:
		exit
	stale:
		ldxdw %r3, [%r9+8]
		ldxb %r0, [%r3]
		exit`, amd64.Options{Helpers: helpers})
	vm := p.NewVM()
	mem := make([]byte, 16)
	binary.LittleEndian.PutUint64(mem[8:], uint64(uintptr(unsafeAddr(rw))))
	for k := 1; k <= 2; k++ {
		mem[0] = 0
		r0, err := vm.Run(mem)
		if err != nil || r0 != 15 || rw[1] != byte(6*k-3) {
			t.Fatalf("run: r0 = %d, rw[1] = %d, %v; want 15, %d", r0, rw[1], err, 6*k-3)
		}
		// A region of an earlier run is out of bounds.
		mem[0] = 2
		_, err = vm.Run(mem)
		wantRunError(t, err, engine.ErrOutOfBounds, 20)
		mem[0] = 1
		_, err = vm.Run(mem)
		wantRunError(t, err, engine.ErrOutOfBounds, 17)
		if ro[8] != 5 {
			t.Fatalf("the read-only region was written")
		}
		mem[0] = 2
		_, err = vm.Run(mem)
		wantRunError(t, err, engine.ErrOutOfBounds, 20)
	}
}

// collectContinuously runs the garbage collector in a loop until the
// returned function is called (which waits for the loop to end): runs
// under it must neither lose memory they use nor depend on where the
// goroutine stack is.
func collectContinuously() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				runtime.GC()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
