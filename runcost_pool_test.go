package bpfvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"regexp"
	"runtime"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// TestRunsBounded: only programs whose runs execute each instruction at
// most once (no backward jump, no call) are bounded.
func TestRunsBounded(t *testing.T) {
	exit := isa.Instruction{Opcode: isa.OpcodeExit}
	mov := isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 0, Imm: 1}
	for _, c := range []struct {
		name  string
		insns []isa.Instruction
		want  bool
	}{
		{"straight", []isa.Instruction{mov, exit}, true},
		{"forward jump", []isa.Instruction{{Opcode: isa.ClassJMP | isa.OpJEQ | isa.SrcK, Dst: 0, Offset: 1}, mov, exit}, true},
		{"lddw", []isa.Instruction{{Opcode: isa.OpcodeLDDW, Imm: -1}, {}, exit}, true},
		{"lddw whose high half looks like a backward jump", []isa.Instruction{{Opcode: isa.OpcodeLDDW}, {Opcode: isa.OpcodeJA, Offset: -2}, exit}, true},
		{"backward jump", []isa.Instruction{mov, {Opcode: isa.ClassJMP | isa.OpJEQ | isa.SrcK, Dst: 0, Offset: -2}, exit}, false},
		{"jump to itself", []isa.Instruction{mov, {Opcode: isa.OpcodeJA, Offset: -1}, exit}, false},
		{"gotol backward", []isa.Instruction{mov, {Opcode: isa.OpcodeJA32, Imm: -2}, exit}, false},
		{"local call", []isa.Instruction{{Opcode: isa.OpcodeCall, Src: isa.CallLocal, Imm: 1}, exit, mov, exit}, false},
		{"helper call", []isa.Instruction{{Opcode: isa.OpcodeCall, Imm: 7}, exit}, false},
		{"callx", []isa.Instruction{mov, {Opcode: isa.OpcodeCallX}, exit}, false},
	} {
		if got := runsBounded(c.insns); got != c.want {
			t.Errorf("%s: runsBounded = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPinnedRuns: runs of short bare programs (made pinned to the P, on
// the P's idle instance) answer as the general path does, values and
// errors alike, leave the goroutine unpinned (the scheduler and the
// garbage collector work afterwards) and allocate nothing.
func TestPinnedRuns(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		rt := NewRuntime(WithEngine(e), WithoutVerifier())
		// r0 = 7 * 6, through the stack: not pure for the interpreter.
		stack := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R2, 7),
			asm.StoreMem(asm.RFP, -8, asm.R2, asm.DWord),
			asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
			asm.Mul.Imm(asm.R0, 6),
			asm.Return(),
		})
		// Reads an absolute address: fails at run time.
		fault := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R1, 0x1000),
			asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
			asm.Return(),
		})
		// A loop: bare, not short.
		loop := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R0, 3),
			asm.Sub.Imm(asm.R0, 1).WithSymbol("top"),
			asm.JGT.Imm(asm.R0, 0, "top"),
			asm.Add.Imm(asm.R0, 9),
			asm.Return(),
		})
		// Straight-line but longer than maxPinnedRun: bare, not short.
		var long asm.Instructions
		for i := 0; i < maxPinnedRun; i++ {
			long = append(long, asm.Mov.Imm(asm.R0, int32(i)))
		}
		long = append(long, asm.Return())
		longP := loadProgram(t, rt, ebpf.XDP, long)
		for _, c := range []struct {
			p     *Program
			short bool
		}{{stack, true}, {fault, true}, {loop, false}, {longP, false}} {
			if !c.p.bare || c.p.short != c.short {
				t.Fatalf("%s %s: bare %v short %v", e, c.p, c.p.bare, c.p.short)
			}
		}
		for _, c := range []struct {
			p   *Program
			ret uint32
		}{{stack, 42}, {loop, 9}, {longP, maxPinnedRun - 1}} {
			h := NewHook("ingress", XDP)
			if err := h.Attach(c.p); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				opts := &RunOptions{Data: udpPkt, Duration: 5, Redirect: &Redirect{}}
				if ret, err := c.p.Run(opts); err != nil || ret != c.ret || opts.Duration != 0 || opts.Redirect != nil {
					t.Fatalf("%s %s: %d, %v, %+v", e, c.p, ret, err, opts)
				}
				if v := h.Fire(udpPkt, nil); v[0].Err != nil || v[0].Retval != c.ret {
					t.Fatalf("%s %s: fire %+v", e, c.p, v)
				}
				// A runt packet fails, and the next run is right again.
				if _, err := c.p.Run(&RunOptions{Data: udpPkt[:10]}); !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("%s %s: runt packet: %v", e, c.p, err)
				}
			}
			if n := testing.AllocsPerRun(100, func() { c.p.Run(&RunOptions{Data: udpPkt}) }); n != 0 {
				t.Errorf("%s %s: Run allocates %v times", e, c.p, n)
			}
		}
		// Programs that see their input: prepared and run pinned once a
		// packet of the length was taken.
		dataLen := loadProgram(t, rt, ebpf.XDP, asm.Instructions{ // data_end - data
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R0, asm.R1, 4, asm.Word),
			asm.Sub.Reg(asm.R0, asm.R2),
			asm.Return(),
		})
		// Writes its packet's byte 1 (the next run must see the input
		// again), returns byte 0 plus the old byte 1.
		scribble := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R0, asm.R2, 0, asm.Byte),
			asm.LoadMem(asm.R3, asm.R2, 1, asm.Byte),
			asm.Add.Reg(asm.R0, asm.R3),
			asm.StoreImm(asm.R2, 1, 0x77, asm.Byte),
			asm.Return(),
		})
		filter := loadProgram(t, rt, ebpf.SocketFilter, asm.Instructions{ // packet[12] (legacy load)
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.LoadAbs(12, asm.Byte),
			asm.Return(),
		})
		// Sees its input and loops: lean (runLean) but not short.
		loopLen := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R0, asm.R1, 4, asm.Word),
			asm.Sub.Reg(asm.R0, asm.R2),
			asm.Mov.Imm(asm.R3, 3),
			asm.Add.Imm(asm.R0, 1).WithSymbol("top"),
			asm.Sub.Imm(asm.R3, 1),
			asm.JGT.Imm(asm.R3, 0, "top"),
			asm.Return(),
		})
		for _, p := range []*Program{dataLen, scribble, filter, loopLen} {
			if p.short != (p != loopLen) || p.bare || !p.plain {
				t.Fatalf("%s %s: short %v bare %v plain %v", e, p, p.short, p.bare, p.plain)
			}
			h := NewHook("h", p.Type())
			if err := h.Attach(p); err != nil {
				t.Fatal(err)
			}
			r, err := p.NewRunner()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, n := range []int{60, 60, 60, 100, 100, 5, 60, maxPinnedPacket + 100, maxPinnedPacket + 100, 60} {
				data := make([]byte, n)
				for i := range data {
					data[i] = byte(i*7 + n)
				}
				want, wantErr := p.Run(&RunOptions{Data: data, DataOut: make([]byte, 2*n)})
				for i := 0; i < 2; i++ {
					got, err := p.Run(&RunOptions{Data: data})
					if got != want || (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
						t.Fatalf("%s %s %d bytes: %d, %v; want %d, %v", e, p, n, got, err, want, wantErr)
					}
					v := h.Fire(data, nil)[0]
					if v.Retval != want || (v.Err == nil) != (wantErr == nil) {
						t.Fatalf("%s %s %d bytes: fire %d, %v; want %d, %v", e, p, n, v.Retval, v.Err, want, wantErr)
					}
					if got, err := r.Run(&RunOptions{Data: data}); got != want || (err == nil) != (wantErr == nil) {
						t.Fatalf("%s %s %d bytes: runner %d, %v; want %d, %v", e, p, n, got, err, want, wantErr)
					}
				}
				if data[1] != byte(7+n) {
					t.Fatalf("%s %s: the caller's packet changed", e, p)
				}
			}
			if n := testing.AllocsPerRun(100, func() { p.Run(&RunOptions{Data: udpPkt}) }); n != 0 {
				t.Errorf("%s %s: Run allocates %v times", e, p, n)
			}
		}
		// The same error on every path: pinned, pooled with an output,
		// a Runner, a hook.
		_, errPinned := fault.Run(&RunOptions{Data: udpPkt})
		_, errPinned2 := fault.Run(&RunOptions{Data: udpPkt})
		_, errFull := fault.Run(&RunOptions{Data: udpPkt, DataOut: make([]byte, 100)})
		r, err := fault.NewRunner()
		if err != nil {
			t.Fatal(err)
		}
		_, errRunner := r.Run(&RunOptions{Data: udpPkt})
		r.Close()
		h := NewHook("ingress", XDP)
		if err := h.Attach(fault); err != nil {
			t.Fatal(err)
		}
		errFire := h.Fire(udpPkt, nil)[0].Err
		for _, err := range []error{errPinned, errPinned2, errFull, errRunner, errFire} {
			var ie *isa.InstructionError
			if !errors.Is(err, engine.ErrOutOfBounds) || !errors.As(err, &ie) || ie.Index != 1 || err.Error() != errFull.Error() {
				t.Fatalf("%s: fault: %v (want %v)", e, err, errFull)
			}
		}
		// Unpinned: another goroutine runs, a collection completes.
		done := make(chan struct{})
		go func() { close(done) }()
		<-done
		runtime.GC()
	}
}

// TestPoolConcurrent runs short, bare and helper-calling programs from
// many goroutines, through Run and Hook.Fire (with -race the pool's per-P
// slots are off; without, they are on): every result is right, and the
// pool made at most one instance per P besides those the concurrency
// needs.
func TestPoolConcurrent(t *testing.T) {
	const goroutines, runs = 8, 300
	for _, e := range []Engine{Interpreter, JIT} {
		rt := NewRuntime(WithEngine(e))
		short := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()})
		loop := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R0, 50),
			asm.Sub.Imm(asm.R0, 1).WithSymbol("top"),
			asm.JGT.Imm(asm.R0, 0, "top"),
			asm.Add.Imm(asm.R0, 1),
			asm.Return(),
		})
		helper := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.FnGetSmpProcessorId.Call(), asm.Mov.Imm(asm.R0, 3), asm.Return()})
		// Its first byte, where udpPkt[:40] and udpPkt agree.
		first := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
			asm.Mov.Imm(asm.R0, 0),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 1),
			asm.JGT.Reg(asm.R4, asm.R3, "out"),
			asm.LoadMem(asm.R0, asm.R2, 0, asm.Byte),
			asm.Return().WithSymbol("out"),
		})
		if !first.short || first.bare {
			t.Fatalf("%s: reading the packet: short %v bare %v", e, first.short, first.bare)
		}
		progs := []*Program{short, loop, helper, first}
		want := []uint32{2, 1, 3, uint32(udpPkt[0])}
		h := NewHook("ingress", XDP)
		for _, p := range progs {
			if err := h.Attach(p); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out []Verdict
				for i := 0; i < runs; i++ {
					k := (g + i) % len(progs)
					data := udpPkt
					if i%7 == 0 {
						data = udpPkt[:40] // another length: prepared again
					}
					if ret, err := progs[k].Run(&RunOptions{Data: data}); err != nil || ret != want[k] {
						errs <- errors.New(progs[k].String() + ": wrong result")
						return
					}
					out = h.FireAppend(out[:0], data, nil)
					for j, v := range out {
						if v.Err != nil || v.Retval != want[j] {
							errs <- errors.New(v.Program.String() + ": wrong verdict")
							return
						}
					}
					if i%50 == 0 {
						runtime.Gosched()
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: %v", e, err)
		}
		for _, p := range progs {
			made := p.pool.Tracked()
			if limit := p.pool.Slots() + goroutines + 1; made > limit {
				t.Errorf("%s %s: %d instances made, more than %d", e, p, made, limit)
			}
		}
	}
}

// FuzzBareRuns loads raw programs (XDP, verified: an unverified program
// may reach memory at an absolute distance from its stack, which differs
// from instance to instance) on both engines and, for plain ones (no
// helper; bare or seeing their input), checks that every way of running
// them answers alike: Run with an output (the general path), Run without
// (bare, pinned once prepared), a Runner and a hook, for the same packet
// run after run and after a change of length.
func FuzzBareRuns(f *testing.F) {
	exit := isa.Instruction{Opcode: isa.OpcodeExit}
	for _, seed := range [][]isa.Instruction{
		{{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 0, Imm: 2}, exit},
		{ // through the stack
			{Opcode: isa.ClassST | isa.ModeMEM | isa.SizeDW, Dst: 10, Offset: -8, Imm: 7},
			{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: 0, Src: 10, Offset: -8},
			exit,
		},
		{ // a division by zero (0, as the kernel defines it)
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 0, Imm: 7},
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 2, Imm: 0},
			{Opcode: isa.ClassALU64 | isa.OpDIV | isa.SrcX, Dst: 0, Src: 2},
			exit,
		},
		{ // a loop: not short
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 0, Imm: 5},
			{Opcode: isa.ClassALU64 | isa.OpSUB | isa.SrcK, Dst: 0, Imm: 1},
			{Opcode: isa.ClassJMP | isa.OpJGT | isa.SrcK, Dst: 0, Offset: -2},
			exit,
		},
		{ // data_end - data: sees its input
			{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Dst: 2, Src: 1},
			{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Dst: 0, Src: 1, Offset: 4},
			{Opcode: isa.ClassALU64 | isa.OpSUB | isa.SrcX, Dst: 0, Src: 2},
			exit,
		},
		{ // a forward branch on an uninitialised-looking register
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 3, Imm: 1},
			{Opcode: isa.ClassJMP | isa.OpJEQ | isa.SrcK, Dst: 3, Imm: 1, Offset: 1},
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 0, Imm: 9},
			{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcK, Dst: 0, Imm: 1},
			exit,
		},
	} {
		var code []byte
		for _, i := range seed {
			code = i.Encode(code)
		}
		f.Add(code, uint16(len(udpPkt)), uint16(20))
	}
	f.Fuzz(func(t *testing.T, code []byte, n1, n2 uint16) {
		if len(code) > 8*256 {
			return
		}
		var insns asm.Instructions
		for rd := bytes.NewReader(code); rd.Len() > 0; {
			var ins asm.Instruction
			if err := ins.Unmarshal(rd, binary.LittleEndian, "linux"); err != nil {
				return
			}
			insns = append(insns, ins)
		}
		if len(insns) == 0 {
			return
		}
		for _, e := range []Engine{Interpreter, JIT} {
			// Unverified, anything may happen but a panic (or a hang).
			if coll, err := NewRuntime(WithEngine(e), WithoutVerifier(), WithInstructionBudget(10_000)).LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
				"p": {Name: "p", Type: ebpf.XDP, Instructions: insns, License: "GPL"},
			}, Maps: map[string]*ebpf.MapSpec{}}); err == nil {
				for _, n := range []uint16{n1, n1, n2} {
					coll.Programs["p"].Run(&RunOptions{Data: make([]byte, int(n)%5000)})
				}
				coll.Close()
			}
			rt := NewRuntime(WithEngine(e), WithInstructionBudget(10_000))
			coll, err := rt.LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
				"p": {Name: "p", Type: ebpf.XDP, Instructions: insns, License: "GPL"},
			}, Maps: map[string]*ebpf.MapSpec{}})
			if err != nil {
				continue
			}
			p := coll.Programs["p"]
			if !p.plain { // helpers may answer differently run after run
				coll.Close()
				continue
			}
			h := NewHook("h", XDP)
			if err := h.Attach(p); err != nil {
				t.Fatal(err)
			}
			r, err := p.NewRunner()
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []uint16{n1, n1, n2, n2, n1} {
				data := make([]byte, int(n)%5000)
				want, wantErr := p.Run(&RunOptions{Data: data, DataOut: make([]byte, 8192)})
				// A program may return (part of) an address, which
				// differs between instances (the Runner's and the
				// pool's): such a program cannot be compared.
				if other, _ := r.Run(&RunOptions{Data: data, DataOut: make([]byte, 8192)}); other != want {
					break
				}
				check := func(how string, got uint32, err error) {
					t.Helper()
					// Messages name addresses, which differ between
					// instances (stacks): compare the rest.
					if got != want || (err == nil) != (wantErr == nil) || err != nil && hexAddr.ReplaceAllString(err.Error(), "ADDR") != hexAddr.ReplaceAllString(wantErr.Error(), "ADDR") {
						t.Fatalf("%s %d bytes, %s: %d, %v; want %d, %v", e, len(data), how, got, err, want, wantErr)
					}
				}
				for i := 0; i < 3; i++ {
					got, err := p.Run(&RunOptions{Data: data})
					check("Run", got, err)
				}
				got, err := r.Run(&RunOptions{Data: data})
				check("Runner", got, err)
				v := h.Fire(data, nil)
				check("Fire", v[0].Retval, v[0].Err)
			}
			r.Close()
			coll.Close()
		}
	})
}

// hexAddr matches the addresses error messages name.
var hexAddr = regexp.MustCompile(`0x[0-9a-f]+`)
