//go:build linux && amd64

package amd64_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
	"golang.org/x/sys/unix"
)

// forwardOnly rewrites a random program into one the filter entry can run:
// calls become register moves, jumps that do not go forward go to the
// final exit.
func forwardOnly(insns []isa.Instruction) []isa.Instruction {
	out := append([]isa.Instruction(nil), insns...)
	last := len(out) - 1
	for i := 0; i < len(out); i++ {
		in := out[i]
		if in.IsLDDW() {
			i++
			continue
		}
		cl := in.Class()
		if cl != isa.ClassJMP && cl != isa.ClassJMP32 || in.Opcode == isa.OpcodeExit {
			continue
		}
		if in.Op() == isa.OpCALL {
			out[i] = isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: in.Imm}
			continue
		}
		if t, ok := isa.Target(out, i); ok && t <= i {
			if i == last {
				out[i] = isa.Instruction{Opcode: isa.OpcodeExit}
				continue
			}
			if out[i].Opcode == isa.OpcodeJA32 {
				out[i].Imm = int32(last - i - 1)
			} else {
				out[i].Offset = int16(last - i - 1)
			}
		}
	}
	return out
}

// filterOutcome runs insns on the interpreter (RunWithPacket, fresh VM
// state per run) and on one FilterVM over the same packets in turn.
func compareFilter(t *testing.T, insns []isa.Instruction, mem []byte, pkts [][]byte) {
	t.Helper()
	compareFilterWith(t, insns, mem, pkts, amd64.Options{Budget: 1 << 20})
}

func compareFilterWith(t *testing.T, insns []isa.Instruction, mem []byte, pkts [][]byte, opts amd64.Options) {
	t.Helper()
	ip, err := interp.Load(insns, interp.Options{Budget: 1 << 20})
	if err != nil {
		t.Fatalf("interp.Load: %v\n%s", err, listing(insns))
	}
	fp, err := amd64.LoadFilter(insns, opts)
	if err != nil {
		t.Fatalf("LoadFilter: %v\n%s", err, listing(insns))
	}
	defer fp.Close()
	ivm := ip.NewVM()
	im := guarded(mem)
	fm := guarded(mem)
	fvm := fp.NewVM(fm)
	// What the batch entry must give: the verdicts up to the first
	// failing run, that run's error, the memory as it left it.
	wantVerdicts := make([]uint32, len(pkts))
	wantDone, wantMem := len(pkts), ""
	var wantBatchErr error
	for k, pkt := range pkts {
		want, wantErr := ivm.RunWithPacket(im, pkt)
		got, gotErr := fvm.Run(pkt)
		if errKind(wantErr) != errKind(gotErr) || wantErr == nil && want != got || string(im) != string(fm) {
			t.Fatalf("packet %d (% x): interp %#x, %v; filter %#x, %v\nmemory: interp % x\n        filter % x\n%s",
				k, pkt, want, wantErr, got, gotErr, im, fm, listing(insns))
		}
		if wantDone < len(pkts) {
			continue
		}
		wantVerdicts[k] = uint32(got)
		if gotErr != nil {
			wantDone, wantMem, wantBatchErr = k, string(fm), gotErr
		}
	}
	if wantBatchErr == nil {
		wantMem = string(fm)
	}
	bm := guarded(mem)
	bvm := fp.NewVM(bm)
	verdicts := make([]uint32, len(pkts))
	done, err := bvm.RunBatch(pkts, verdicts)
	if done != wantDone || errKind(err) != errKind(wantBatchErr) || err != nil && err.Error() != wantBatchErr.Error() ||
		string(bm) != wantMem || string(u32s(verdicts[:done])) != string(u32s(wantVerdicts[:wantDone])) {
		t.Fatalf("RunBatch = %d, %v, verdicts %v, memory % x\nwant %d, %v, verdicts %v, memory % x\n%s",
			done, err, verdicts, bm, wantDone, wantBatchErr, wantVerdicts, wantMem, listing(insns))
	}
}

// u32s encodes verdicts as bytes, to compare them as strings.
func u32s(v []uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return b
}

var filterPackets = [][]byte{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29},
	nil,
	{0xff},
	{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
	{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x12, 0x34, 0, 80},
}

// TestFilterDifferentialRandom: random forward-only programs (legacy
// loads, stack and memory accesses, divisions, unverified) agree with the
// interpreter, run after run on the same FilterVM.
func TestFilterDifferentialRandom(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	mem := make([]byte, 64)
	for i := range mem {
		mem[i] = byte(i*7 + 3)
	}
	ran := 0
	for seed := 0; seed < n; seed++ {
		insns := forwardOnly(randomProgram(uint64(seed)+1e6, 8+seed%40))
		if isa.Validate(insns) != nil {
			continue
		}
		ran++
		// Odd seeds blinded: the packet base lives in the register
		// blinded stores and atomics borrow.
		compareFilterWith(t, insns, mem, filterPackets, amd64.Options{Budget: 1 << 20, BlindConstants: seed%2 == 1})
	}
	if ran < n/4 {
		t.Fatalf("only %d of %d programs were valid", ran, n)
	}
	t.Logf("%d valid random programs agreed", ran)
}

// FuzzFilterDifferential compares FilterVM with the interpreter on
// programs decoded from the fuzzer's bytes (made forward-only) and a
// packet.
func FuzzFilterDifferential(f *testing.F) {
	f.Add([]byte{0x30, 0, 0, 0, 3, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0}, []byte{1, 2, 3, 4}, uint64(0))
	f.Add([]byte{}, []byte{}, uint64(7))
	f.Add([]byte{}, []byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, uint64(8))
	mem := make([]byte, 64)
	for i := range mem {
		mem[i] = byte(i*13 + 1)
	}
	f.Fuzz(func(t *testing.T, code, pkt []byte, seed uint64) {
		var insns []isa.Instruction
		if len(code) == 0 {
			insns = randomProgram(seed, 8+int(seed%64))
		} else {
			if len(code)%8 != 0 || len(code) > 8*4096 {
				return
			}
			var err error
			if insns, err = isa.Decode(code); err != nil {
				return
			}
		}
		if len(insns) == 0 {
			return
		}
		insns = forwardOnly(insns)
		if isa.Validate(insns) != nil || usesAddress(insns) {
			return
		}
		compareFilter(t, insns, mem, [][]byte{pkt, nil, pkt})
	})
}

// usesAddress reports whether insns use r1 (the memory's address, which
// differs between the interpreter's copy and the filter's) as a value
// rather than as a base: in arithmetic, a comparison or a store. Such a
// program's result depends on where the memory lies.
func usesAddress(insns []isa.Instruction) bool {
	for _, in := range insns {
		switch in.Class() {
		case isa.ClassALU, isa.ClassALU64, isa.ClassJMP, isa.ClassJMP32:
			if in.Dst == isa.R1 || in.Source() == isa.SrcX && in.Src == isa.R1 {
				return true
			}
		case isa.ClassSTX:
			if in.Src == isa.R1 {
				return true
			}
		}
	}
	return false
}

// TestFilterRefuses: LoadFilter refuses what needs the VM's machinery,
// with an error wrapping ErrNotFilter naming the instruction.
func TestFilterRefuses(t *testing.T) {
	for _, c := range []struct {
		name, src string
		budget    uint64
		index     int
	}{
		{"helper", "call 1\nexit", 0, 0},
		{"callx", "mov %r1, 1\ncall %r1\nexit", 0, 1},
		{"local call", "call 1\nexit\nmov %r0, 2\nexit", 0, 0},
		{"loop", "mov %r0, 3\nsub %r0, 1\njne %r0, 0, -2\nexit", 0, 2},
		{"budget", "mov %r0, 1\nmov %r0, 2\nexit", 2, -1},
	} {
		_, err := amd64.LoadFilter(assemble(t, c.src), amd64.Options{Budget: c.budget})
		if !errors.Is(err, amd64.ErrNotFilter) {
			t.Errorf("%s: LoadFilter error %v, want ErrNotFilter", c.name, err)
			continue
		}
		var ie *isa.InstructionError
		if c.index >= 0 && (!errors.As(err, &ie) || ie.Index != c.index) {
			t.Errorf("%s: %v does not name instruction %d", c.name, err, c.index)
		}
	}
	if _, err := amd64.LoadFilter([]isa.Instruction{{Opcode: 0xff}}, amd64.Options{}); err == nil || errors.Is(err, amd64.ErrNotFilter) {
		t.Errorf("invalid program: %v, want a validation error", err)
	}
}

func loadFilter(t *testing.T, src string) *amd64.FilterProgram {
	t.Helper()
	p, err := amd64.LoadFilter(assemble(t, src), amd64.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestFilterLegacyLoads: in-bounds loads read network order; a load
// outside the packet (also from an empty packet, at a huge or negative
// offset) ends the run with 0.
func TestFilterLegacyLoads(t *testing.T) {
	p := loadFilter(t, `
		ldabsw 2
		mov %r6, %r0
		ldabsh 0
		lsh %r0, 32
		or %r0, %r6
		ldabsb 5
		mov %r7, 3
		ldindb %r7, 2
		add %r0, %r6
		exit`)
	vm := p.NewVM(nil)
	pkt := []byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
	if got, err := vm.Run(pkt); err != nil || got != 0x33445566+0x66 {
		t.Errorf("Run = %#x, %v; want %#x", got, err, 0x33445566+0x66)
	}
	for _, short := range [][]byte{nil, {}, pkt[:5], pkt[:1]} {
		if got, err := vm.Run(short); err != nil || got != 0 {
			t.Errorf("Run(% x) = %#x, %v; want 0", short, got, err)
		}
	}
	for _, src := range []string{"ldabsb 0x7fffffff\nexit", "ldabsw 0x7ffffffc\nexit", "mov %r1, -1\nldindb %r1, 0\nexit",
		"ldabsb -1\nexit", "mov %r1, 0x7fffffff\nldindh %r1, 0\nexit"} {
		if got, err := loadFilter(t, "mov %r0, 9\n"+src).NewVM(nil).Run(pkt); err != nil || got != 0 {
			t.Errorf("%q: Run = %#x, %v; want 0", src, got, err)
		}
	}
	// SKF_LL_OFF addresses the packet from its start.
	if got, err := loadFilter(t, "ldabsb -2097150\nexit").NewVM(nil).Run(pkt); err != nil || got != 0x33 {
		t.Errorf("SKF_LL_OFF+2: Run = %#x, %v; want 0x33", got, err)
	}
}

// TestFilterMemoryAndErrors: r1/r2 are the VM's memory; the program may
// write it; an access outside it and the stack fails naming the
// instruction; division by zero follows the ISA.
func TestFilterMemoryAndErrors(t *testing.T) {
	p := loadFilter(t, `
		ldxw %r0, [%r1+4]
		add %r0, %r2
		stw [%r1], 7
		mov %r3, 0
		div %r0, %r3
		ldxw %r4, [%r1+0]
		add %r0, %r4
		exit`)
	mem := []byte{0, 0, 0, 0, 5, 0, 0, 0}
	vm := p.NewVM(mem)
	if got, err := vm.Run(nil); err != nil || got != 7 || mem[0] != 7 {
		t.Errorf("Run = %d, %v (mem % x); want 7 (5+8 divided by 0 is 0, plus 7)", got, err, mem)
	}
	oob := loadFilter(t, "mov %r0, 1\nldxw %r0, [%r1+8]\nexit")
	_, err := oob.NewVM(mem).Run([]byte{1})
	var ie *isa.InstructionError
	if !errors.Is(err, engine.ErrOutOfBounds) || !errors.As(err, &ie) || ie.Index != 1 || !strings.Contains(err.Error(), "read of 4 bytes") {
		t.Errorf("out-of-bounds read: %v", err)
	}
	if _, err := loadFilter(t, "stdw [%r1-8], 1\nmov %r0, 0\nexit").NewVM(mem).Run(nil); !errors.Is(err, engine.ErrOutOfBounds) {
		t.Errorf("out-of-bounds write: %v", err)
	}
	if _, err := loadFilter(t, "ldxb %r0, [%r10-513]\nexit").NewVM(nil).Run(nil); !errors.Is(err, engine.ErrOutOfBounds) {
		t.Errorf("read below the stack: %v", err)
	}
	if _, err := loadFilter(t, "ldxb %r0, [%r1+0]\nexit").NewVM(nil).Run(nil); !errors.Is(err, engine.ErrOutOfBounds) {
		t.Errorf("read through a null r1: %v", err)
	}
	p.Close()
	if _, err := vm.Run(nil); !errors.Is(err, amd64.ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
}

// TestFilterStackClearing: a program that may read stack it did not
// write sees zeros, as in the interpreter, even after a run that wrote
// it; one that always writes first is not cleared (and cannot tell).
func TestFilterStackClearing(t *testing.T) {
	src := `
		ldabsb 0
		jeq %r0, 1, +2
		ldxdw %r0, [%r10-8]
		exit
		stdw [%r10-8], 77
		mov %r0, 5
		exit`
	vm := loadFilter(t, src).NewVM(nil)
	for k, c := range []struct {
		pkt  []byte
		want uint64
	}{{[]byte{1}, 5}, {[]byte{0}, 0}, {[]byte{1}, 5}, {[]byte{2}, 0}} {
		if got, err := vm.Run(c.pkt); err != nil || got != c.want {
			t.Errorf("run %d: %d, %v; want %d", k, got, err, c.want)
		}
	}
	for _, c := range []struct {
		src   string
		clear bool
	}{
		{src, true},
		{"stw [%r10-8], 1\nldxw %r0, [%r10-8]\nexit", false},
		{"stw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit", true},                          // half written
		{"ldabsb 0\njeq %r0, 1, +1\nstw [%r10-4], 1\nldxw %r0, [%r10-4]\nexit", true}, // one path
		{"ldabsb 0\njeq %r0, 1, +2\nstw [%r10-4], 1\nja +1\nstw [%r10-4], 2\nldxw %r0, [%r10-4]\nexit", false},
		{"mov %r1, %r10\nmov %r0, 0\nexit", true}, // r10 escapes
		{"mov %r0, 1\nstxdw [%r10-8], %r0\nlock add [%r10-8], %r0\nexit", true},
		{"mov %r0, 0\nexit", false},
	} {
		if got := amd64.ReadsUnwrittenStack(assemble(t, c.src)); got != c.clear {
			t.Errorf("%q: readsUnwrittenStack = %v, want %v", c.src, got, c.clear)
		}
	}
}

// TestFilterConcurrent: FilterVMs of one program in parallel goroutines,
// on different packets and memories.
func TestFilterConcurrent(t *testing.T) {
	p := loadFilter(t, "ldxw %r6, [%r1+0]\nldabsw 0\nadd %r0, %r6\nstxw [%r10-4], %r0\nldxw %r0, [%r10-4]\nexit")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mem := []byte{byte(g), 0, 0, 0}
			vm := p.NewVM(mem)
			pkt := make([]byte, 4+g)
			for i := range 2000 {
				pkt[3] = byte(i)
				want := uint64(byte(i)) + uint64(g)
				if got, err := vm.Run(pkt); err != nil || got != want {
					t.Errorf("goroutine %d run %d: %d, %v; want %d", g, i, got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestFilterNoAllocations: a run allocates nothing.
func TestFilterNoAllocations(t *testing.T) {
	vm := loadFilter(t, "ldabsh 12\nstxw [%r10-4], %r0\nldxw %r0, [%r10-4]\nexit").NewVM(make([]byte, 16))
	pkt := make([]byte, 64)
	if n := testing.AllocsPerRun(100, func() { vm.Run(pkt) }); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}

// BenchmarkFilterEntry is the filter entry's fixed cost (one legacy load).
func BenchmarkFilterEntry(b *testing.B) {
	p, err := amd64.LoadFilter(assemble(b, "ldabsh 12\nexit"), amd64.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	vm := p.NewVM(nil)
	pkt := make([]byte, 64)
	cpu := startCPUTimer()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vm.Run(pkt)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu.stop().Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// runAtDepth runs vm on pkt from n frames of 256 bytes down, so the
// goroutine stack grows (and moves) between runs.
//
//go:noinline
func runAtDepth(vm *amd64.FilterVM, pkt []byte, n int) (uint64, error) {
	var pad [256]byte
	pad[n%256] = byte(n)
	if n == 0 {
		return vm.Run(pkt)
	}
	r0, err := runAtDepth(vm, pkt, n-1)
	return r0 + uint64(pad[n%256]) - uint64(byte(n)), err
}

// TestFilterGCAndStackMoves: runs on fresh packets (garbage as soon as the
// run returns) from varying stack depths while the collector runs
// continuously: the code is called as a Go function, and must neither
// lose its packet to the collector nor depend on the goroutine stack's
// place beyond the call.
func TestFilterGCAndStackMoves(t *testing.T) {
	p := loadFilter(t, "ldabsw 0\nmov %r6, %r0\nldabsb 63\nadd %r0, %r6\nstxdw [%r10-8], %r0\nldxdw %r0, [%r10-8]\nexit")
	stopGC := collectContinuously()
	var runners sync.WaitGroup
	for g := range 4 {
		runners.Add(1)
		go func() {
			defer runners.Done()
			vm := p.NewVM(nil)
			for k := range 3000 {
				pkt := make([]byte, 64)
				binary.BigEndian.PutUint32(pkt, uint32(k*g))
				pkt[63] = byte(k)
				want := uint64(uint32(k*g)) + uint64(byte(k))
				if r0, err := runAtDepth(vm, pkt, (k*7+g)%300); err != nil || r0 != want {
					t.Errorf("goroutine %d run %d: %d, %v; want %d", g, k, r0, err, want)
					return
				}
			}
		}()
	}
	runners.Wait()
	stopGC()
}

// TestFilterTooLargePacket: a packet of 2 GiB or more fails before the
// program runs (the slice only claims the length: nothing is read).
func TestFilterTooLargePacket(t *testing.T) {
	vm := loadFilter(t, "ldabsb 0\nexit").NewVM(nil)
	buf := make([]byte, 16)
	// Real address space (reserved, never touched), not a slice stretched
	// over buf: checkptr (-race) refuses the latter.
	huge, err := unix.Mmap(-1, 0, 1<<31, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Skipf("cannot reserve 2 GiB of address space: %v", err)
	}
	defer unix.Munmap(huge)
	if _, err := vm.Run(huge); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Run(2 GiB) = %v, want a too-large error", err)
	}
	if r0, err := vm.Run(buf); err != nil || r0 != 0 {
		t.Errorf("Run after it = %d, %v", r0, err)
	}
}

// TestFilterKnownPacketLen: a bounds check is left out only where loads on
// every path before proved the packet long enough.
func TestFilterKnownPacketLen(t *testing.T) {
	insns := assemble(t, `
		ldabsb 23
		jeq %r0, 1, +2
		ldabsw 30
		ja +0
		ldabsh 20
		exit`)
	want := []int64{0, 24, 24, 34, 24, 24}
	got := amd64.KnownPacketLen(insns, amd64.ZeroBelow(insns))
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("knownPacketLen = %v, want %v", got, want)
		}
	}
	vm := loadFilter(t, `
		ldabsb 0
		jeq %r0, 1, +1
		ldabsb 30
		ldabsh 20
		exit`).NewVM(nil)
	pkt := make([]byte, 22)
	pkt[0] = 1 // skips the load at 30: the one at 20 keeps its check
	pkt[20], pkt[21] = 0x12, 0x34
	if r0, err := vm.Run(pkt); err != nil || r0 != 0x1234 {
		t.Errorf("Run = %#x, %v; want 0x1234", r0, err)
	}
	if r0, err := vm.Run(pkt[:21]); err != nil || r0 != 0 {
		t.Errorf("Run(21 bytes) = %#x, %v; want 0 (out of bounds)", r0, err)
	}
	pkt[0] = 0 // the load at 30 fails first
	if r0, err := vm.Run(pkt); err != nil || r0 != 0 {
		t.Errorf("Run = %#x, %v; want 0", r0, err)
	}
}

// TestFilterZeroBelow: a bounds check tests the length below which every
// path returns 0 anyway, only across instructions with no other effect;
// the results on packets of every length stay the interpreter's.
func TestFilterZeroBelow(t *testing.T) {
	http := `
		ldabsh 12
		jne %r0, 0x800, +12
		ldabsb 23
		jne %r0, 6, +10
		ldabsh 20
		jset %r0, 0x1fff, +8
		ldabsb 14
		and32 %r0, 15
		lsh32 %r0, 2
		mov32 %r7, %r0
		ldindh %r7, 16
		jne %r0, 0x50, +2
		mov32 %r0, 262144
		exit
		mov32 %r0, 0
		exit`
	const most = 1<<31 - 1
	want := []int64{24, 24, 24, 22, 22, 15, 15, 0, 0, 0, 0, 0, 0, 0, most, 0}
	insns := assemble(t, http)
	if got := amd64.ZeroBelow(insns); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("zeroBelow = %v, want %v", got, want)
	}
	// After the first check, every absolute load is covered.
	if got := amd64.KnownPacketLen(insns, amd64.ZeroBelow(insns)); got[2] != 24 || got[4] != 24 || got[6] != 24 {
		t.Errorf("knownPacketLen = %v, want 24 from slot 1 on", got)
	}
	frame := make([]byte, 80)
	copy(frame[12:], []byte{8, 0, 0x45})
	frame[23] = 6
	frame[36], frame[37] = 0, 0x50
	for _, src := range []string{
		http,
		// A reject that is not 0: no check covers the next load.
		"ldabsh 12\njne %r0, 0x800, +2\nldabsb 40\nexit\nmov %r0, 1\nexit",
		// 0 from a register that is not known 0.
		"ldabsh 12\njne %r0, 0x800, +2\nldabsb 40\nexit\nmov %r0, %r9\nexit",
		// A store between the loads must happen before the second fails.
		"ldabsh 12\nstw [%r1], 7\nldabsb 40\nexit",
		// Constant verdicts (the batch entry stores them directly), one
		// exit also a jump target.
		// The bytes at 12, 13, 14 are 8, 0, 0x45: each takes a path.
		"ldabsb 12\njeq %r0, 0, +3\njeq %r0, 8, +1\nmov32 %r0, 7\nexit\nmov %r0, -5\nexit",
		"ldabsb 13\njeq %r0, 0, +3\njeq %r0, 8, +1\nmov32 %r0, 7\nexit\nmov %r0, -5\nexit",
		"ldabsb 14\njeq %r0, 0, +3\njeq %r0, 8, +1\nmov32 %r0, 7\nexit\nmov %r0, -5\nexit",
		// The batch loop's state partly, then wholly in the spill area
		// (the program names the registers it would take).
		"mov %r9, 1\nmov %r5, 1\nmov %r2, 1\nmov %r1, 1\nldabsb 12\njeq %r0, 8, +2\nmov %r0, 3\nexit\nmov32 %r0, 5\nexit",
		"mov %r9, 1\nmov %r5, 1\nmov %r2, 1\nmov %r1, 1\nmov %r7, 1\nmov %r8, 1\nldabsb 12\njeq %r0, 8, +2\nmov %r0, 3\nexit\nmov32 %r0, 5\nexit",
		// lddw, ja and a 64-bit mov on the way.
		"ldabsb 2\nlddw %r3, 5\njeq %r0, 0, +2\nldabsw 50\nja +2\nmov %r0, 0\nexit\nexit",
	} {
		insns := assemble(t, src)
		var pkts [][]byte
		for n := 0; n <= len(frame); n++ {
			pkts = append(pkts, frame[:n])
		}
		compareFilter(t, insns, make([]byte, 8), pkts)
	}
}
