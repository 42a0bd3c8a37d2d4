package interp

import (
	"bytes"
	"errors"
	"math/rand"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

const fuzzBudget = 20_000

// FuzzInterp loads arbitrary bytecode and, if Load accepts it, runs it with
// a small budget: it must never panic or hang, never execute more than the
// budget, fail only with *isa.InstructionError, and behave the same on a
// second run with the same input.
func FuzzInterp(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(conformanceDir, "tests", "*.data"))
	for _, file := range files {
		c := parseConformance(f, file)
		insns, err := asm.Assemble(c.asm)
		if err != nil {
			continue
		}
		f.Add(isa.Encode(insns), c.mem)
	}
	for _, src := range []string{
		"mov %r0, 0\nloop:\nadd %r0, 1\nja loop",
		"ldxdw %r0, [%r1+4]\nstxdw [%r1], %r0\nexit",
		"call local f\nexit\nf:\ncall local f\nexit",
		"call 1\nstb [%r0+1], 1\nldxdw %r0, [%r0]\nexit",
		"mov %r1, 3\nmov %r2, 4\ncall 5\nexit\ncb:\nmov %r0, %r1\nexit",
		"mov %r2, 1\ncall %r2\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 4\nldxdw %r0, [%r10-8]\nexit",
	} {
		insns, err := asm.Assemble(src)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(isa.Encode(insns), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	}
	ro := make([]byte, 8)
	rw := make([]byte, 8)
	helpers := envHelpers(ro, rw)
	for id, h := range conformanceHelpers {
		helpers[id+100] = h
	}

	f.Fuzz(func(t *testing.T, code []byte, mem []byte) {
		insns, err := isa.Decode(code)
		if err != nil {
			return
		}
		p, err := Load(insns, Options{Helpers: helpers, Budget: fuzzBudget})
		if err != nil {
			var ie *isa.InstructionError
			if len(insns) > 0 && len(insns) <= isa.MaxInstructions && !errors.As(err, &ie) {
				t.Fatalf("load error is not an *isa.InstructionError: %v", err)
			}
			return
		}
		vm := p.NewVM()
		type outcome struct {
			r0       uint64
			err      string
			executed uint64
			mem      []byte
		}
		// Both runs use the same buffer, so addresses (which programs may
		// return or errors may print) are equal too.
		m := make([]byte, len(mem))
		var results [2]outcome
		for i := range results {
			copy(m, mem)
			clear(ro)
			clear(rw)
			r0, err := vm.Run(m)
			o := outcome{r0: r0, executed: vm.Executed(), mem: append([]byte(nil), m...)}
			if err != nil {
				var ie *isa.InstructionError
				if !errors.As(err, &ie) {
					t.Fatalf("run error is not an *isa.InstructionError: %v", err)
				}
				o.err = err.Error()
			}
			if o.executed > fuzzBudget {
				t.Fatalf("executed %d instructions, budget %d", o.executed, fuzzBudget)
			}
			results[i] = o
		}
		a, b := results[0], results[1]
		if a.r0 != b.r0 || a.err != b.err || a.executed != b.executed || !bytes.Equal(a.mem, b.mem) {
			t.Fatalf("two runs differ:\n%+v\n%+v", a, b)
		}
	})
}

// FuzzInterpGen builds structurally valid programs from the fuzzer's bytes
// (random bytes rarely pass isa.Validate, so FuzzInterp mostly tests Load),
// with stack and memory accesses near valid addresses, local calls,
// helpers and atomics, and checks the same properties as FuzzInterp.
func FuzzInterpGen(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte("a longer seed that makes a longer program with several kinds of instructions"), make([]byte, 16))
	f.Add(bytes.Repeat([]byte{0x9c, 0x33, 0x71, 0x05, 0xe2}, 20), []byte{0xff, 0xfe})
	ro := make([]byte, 8)
	rw := make([]byte, 8)
	helpers := envHelpers(ro, rw)
	tm := newTestMaps(f)
	f.Fuzz(func(t *testing.T, seed []byte, mem []byte) {
		insns := genProgram(seed)
		if isa.Validate(insns) != nil {
			return
		}
		p, err := Load(insns, Options{Helpers: helpers, Budget: fuzzBudget, Inline: tm.inline})
		if err != nil {
			t.Fatalf("Load refused a valid generated program: %v", err)
		}
		vm := p.NewVM()
		m := make([]byte, len(mem))
		var first struct {
			r0       uint64
			err      string
			executed uint64
			mem      []byte
		}
		for i := 0; i < 2; i++ {
			copy(m, mem)
			clear(ro)
			clear(rw)
			tm.reset()
			r0, err := vm.Run(m)
			errText := ""
			if err != nil {
				var ie *isa.InstructionError
				if !errors.As(err, &ie) {
					t.Fatalf("run error is not an *isa.InstructionError: %v", err)
				}
				errText = stableErr(err)
			}
			if vm.Executed() > fuzzBudget {
				t.Fatalf("executed %d instructions, budget %d", vm.Executed(), fuzzBudget)
			}
			if i == 0 {
				first.r0, first.err, first.executed, first.mem = r0, errText, vm.Executed(), append([]byte(nil), m...)
				continue
			}
			if r0 != first.r0 || errText != first.err || vm.Executed() != first.executed || !bytes.Equal(m, first.mem) {
				t.Fatalf("two runs differ: %#x %q %d vs %#x %q %d", first.r0, first.err, first.executed, r0, errText, vm.Executed())
			}
		}
		// A budget that ends somewhere inside the run: the segment-wise
		// budget must agree with stepping.
		if first.executed > 1 {
			budget := 1 + uint64(len(seed))*7919%(first.executed-1)
			a, b := runBoth(vm, m, mem, budget, func() { clear(ro); clear(rw); tm.reset() })
			if !sameOutcome(a, b) || a.executed != budget {
				t.Fatalf("budget %d: segments %+v, stepping %+v", budget, a, b)
			}
		}
	})
}

// genProgram turns bytes into a program: 5 bytes per instruction, with
// every field forced into a valid range, and exit at the end.
func genProgram(seed []byte) []isa.Instruction {
	n := len(seed)/5 + 1
	if n > 64 {
		n = 64
	}
	var out []isa.Instruction
	aluOps := []uint8{isa.OpADD, isa.OpSUB, isa.OpMUL, isa.OpDIV, isa.OpOR, isa.OpAND, isa.OpLSH, isa.OpRSH, isa.OpNEG, isa.OpMOD, isa.OpXOR, isa.OpMOV, isa.OpARSH, isa.OpEND}
	jmpOps := []uint8{isa.OpJEQ, isa.OpJGT, isa.OpJGE, isa.OpJSET, isa.OpJNE, isa.OpJSGT, isa.OpJSGE, isa.OpJLT, isa.OpJLE, isa.OpJSLT, isa.OpJSLE}
	sizes := []uint8{isa.SizeB, isa.SizeH, isa.SizeW, isa.SizeDW}
	atomics := []int32{isa.AtomicADD, isa.AtomicOR, isa.AtomicAND, isa.AtomicXOR, isa.AtomicADD | isa.AtomicFETCH,
		isa.AtomicOR | isa.AtomicFETCH, isa.AtomicAND | isa.AtomicFETCH, isa.AtomicXOR | isa.AtomicFETCH, isa.AtomicXCHG, isa.AtomicCMPXCHG}
	var jumps []int // slots whose offset/imm is a raw target to fix up
	for i := 0; i < n && 5*i+4 < len(seed); i++ {
		b := seed[5*i : 5*i+5]
		dst, src := b[1]%10, b[1]>>4%11
		imm := int32(int8(b[2])) * int32(b[3]|1)
		off := int16(int8(b[3])) * 4
		// Base registers for memory: mostly r10 (stack) or r1 (mem).
		base := []uint8{10, 10, 1, 1, 0, 6}[b[4]%6]
		switch b[0] % 13 {
		case 0, 1, 2: // ALU64 / ALU32
			op := aluOps[int(b[4])%len(aluOps)]
			cls := isa.ClassALU64
			if b[0]&0x10 != 0 {
				cls = isa.ClassALU
			}
			in := isa.Instruction{Opcode: cls | op, Dst: dst}
			switch op {
			case isa.OpNEG:
			case isa.OpEND:
				in.Imm = []int32{16, 32, 64}[b[2]%3]
				if cls == isa.ClassALU && b[3]&1 != 0 {
					in.Opcode |= isa.SrcX
				}
			default:
				if b[0]&0x20 != 0 {
					in.Opcode |= isa.SrcX
					in.Src = src
					if op == isa.OpMOV && b[3]&3 != 0 {
						in.Offset = []int16{0, 8, 16, 32}[b[3]&3]
						if cls == isa.ClassALU && in.Offset == 32 {
							in.Offset = 16
						}
					}
				} else {
					in.Imm = imm
				}
				if (op == isa.OpDIV || op == isa.OpMOD) && b[2]&1 != 0 {
					in.Offset = 1
				}
			}
			out = append(out, in)
		case 3, 4: // conditional jump, JMP or JMP32
			cls := isa.ClassJMP
			if b[0]&0x10 != 0 {
				cls = isa.ClassJMP32
			}
			in := isa.Instruction{Opcode: cls | jmpOps[int(b[4])%len(jmpOps)], Dst: dst, Offset: int16(b[3])}
			if b[0]&0x20 != 0 {
				in.Opcode |= isa.SrcX
				in.Src = src
			} else {
				in.Imm = imm
			}
			jumps = append(jumps, len(out))
			out = append(out, in)
		case 5: // load
			mode := isa.ModeMEM
			size := sizes[b[2]%4]
			if b[2]&4 != 0 && size != isa.SizeDW {
				mode = isa.ModeMEMSX
			}
			out = append(out, isa.Instruction{Opcode: isa.ClassLDX | mode | size, Dst: dst, Src: base, Offset: off})
		case 6: // store (register or immediate)
			if b[2]&1 != 0 {
				out = append(out, isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | sizes[b[2]>>1%4], Dst: base, Offset: off, Imm: imm})
			} else {
				out = append(out, isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | sizes[b[2]>>1%4], Dst: base, Src: src, Offset: off})
			}
		case 7: // atomic
			size := isa.SizeW
			if b[2]&1 != 0 {
				size = isa.SizeDW
			}
			a := atomics[int(b[4])%len(atomics)]
			if a&isa.AtomicFETCH != 0 && src == 10 {
				src = 9
			}
			out = append(out, isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Dst: base, Src: src, Offset: off &^ 7, Imm: a})
		case 8: // lddw
			l := isa.LDDW(dst, uint64(imm)<<uint(b[4]%40)|uint64(b[3]))
			out = append(out, l[0], l[1])
		case 9: // local call or helper call
			if b[2]&1 != 0 {
				jumps = append(jumps, len(out))
				out = append(out, isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal, Imm: int32(b[3])})
			} else {
				out = append(out, isa.Instruction{Opcode: isa.OpcodeCall, Imm: int32(b[3]%6) + 1})
			}
		case 10: // legacy packet load
			mode := isa.ModeABS
			in := isa.Instruction{Imm: int32(b[3] % 16)}
			if b[2]&1 != 0 {
				mode = isa.ModeIND
				in.Src = src
			}
			in.Opcode = isa.ClassLD | mode | sizes[b[2]>>1%3]
			out = append(out, in)
		case 12: // a pair the interpreter fuses (fuse.go)
			mov := func(cls uint8, r uint8) isa.Instruction {
				return isa.Instruction{Opcode: cls | isa.OpMOV | isa.SrcK, Dst: r, Imm: imm}
			}
			movX := isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: dst, Src: src}
			switch b[2] % 13 {
			case 0:
				out = append(out, movX, isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcK, Dst: dst, Imm: imm})
			case 1:
				out = append(out, mov(isa.ClassALU, dst), isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeW, Dst: base, Src: src, Offset: off})
			case 2:
				out = append(out, mov(isa.ClassALU64, dst), isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeDW, Dst: base, Src: src, Offset: off})
			case 3:
				second := []isa.Instruction{mov(isa.ClassALU, src), mov(isa.ClassALU64, src), {Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: src, Src: dst}}[b[3]%3]
				out = append(out, movX, second)
			case 4:
				out = append(out, mov(isa.ClassALU, dst), mov(isa.ClassALU, src))
			case 5:
				out = append(out, isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: dst, Src: base, Offset: off},
					isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: src, Src: dst})
			case 6:
				out = append(out, isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: dst, Src: src}, movX)
			case 7: // a loop counter and its jump
				j := isa.Instruction{Opcode: isa.ClassJMP | jmpOps[int(b[4])%len(jmpOps)], Dst: dst, Offset: int16(b[3])}
				if b[0]&0x20 != 0 {
					j.Opcode |= isa.SrcX
					j.Src = src
				} else {
					j.Imm = imm
				}
				out = append(out, isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcK, Dst: dst, Imm: int32(int8(b[2]))})
				jumps = append(jumps, len(out))
				out = append(out, j)
			case 8: // a legacy load and a 32-bit jump on r0
				mode := isa.ModeABS
				l := isa.Instruction{Imm: int32(b[3] % 16)}
				if b[3]&0x10 != 0 {
					mode = isa.ModeIND
					l.Src = src
				}
				l.Opcode = isa.ClassLD | mode | sizes[b[4]>>4%3]
				out = append(out, l)
				jumps = append(jumps, len(out))
				out = append(out, isa.Instruction{Opcode: isa.ClassJMP32 | jmpOps[int(b[4])%len(jmpOps)], Dst: 0, Offset: int16(b[3]), Imm: imm})
			case 10: // map helper arguments: rX = r10; rX += K; rY = imm64
				l := isa.LDDW(src, uint64(imm)<<uint(b[4]%40))
				out = append(out, movX, isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcK, Dst: dst, Imm: int32(off)}, l[0], l[1])
			case 11: // a map lookup as clang emits it (fuse.go's lookup group)
				h := []uint64{testArrayHandle, testHashHandle, testHash8Handle}[b[4]%3]
				kreg := []uint8{1, dst, 0, 2}[b[4]>>2%4]
				so := []int16{-4, -8, off}[b[4]>>4%3]
				ao := []int32{-4, -8, int32(off)}[b[0]>>5%3]
				k := int32(b[3] % 10)
				mov, st := isa.ClassALU, isa.SizeW
				if b[2]/13%2 == 1 {
					mov, st = isa.ClassALU64, isa.SizeDW
				}
				j := isa.OpJEQ
				if b[2]/26%2 == 1 {
					j = isa.OpJNE
				}
				l := isa.LDDW(1, h)
				// Unrolled lookups summing into the same register (a
				// lookup chain, fuse.go's chainGroups) repeat the group
				// with the next keys.
				reps, ldOff := 1, int16(b[3]&8)-4*int16(b[3]&1)
				if b[3]&0x80 != 0 && b[0]&0x80 != 0 {
					// clang's exact shape for constant u32 keys, as a
					// run of one to three groups, on the array (what
					// chains run; a hash hit's value may move when the
					// tests reset the maps between runs, and a fault's
					// message names its address).
					l = isa.LDDW(1, testArrayHandle)
					so = []int16{-4, -8}[b[4]>>4&1]
					ao, mov, st, j, ldOff = int32(so), isa.ClassALU, isa.SizeW, isa.OpJEQ, 0
					reps = 1 + int(b[2]/52%3)
				}
			group:
				out = append(out, isa.Instruction{Opcode: mov | isa.OpMOV | isa.SrcK, Dst: kreg, Imm: k},
					isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | st, Dst: 10, Src: kreg, Offset: so},
					isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 2, Src: 10},
					isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcK, Dst: 2, Imm: ao},
					l[0], l[1], isa.Instruction{Opcode: isa.OpcodeCall, Imm: 1})
				if b[3]&0x80 != 0 {
					// "if (v) sum += *v": the jump skips just the sum.
					a, c := []uint8{1, dst}[b[3]>>6&1], []uint8{6, src % 10}[b[3]>>5&1] // r10 is read-only
					out = append(out, isa.Instruction{Opcode: isa.ClassJMP | j, Dst: 0, Offset: 3},
						isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: a, Src: 0, Offset: ldOff},
						isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: a, Src: c},
						isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: c, Src: a})
					if reps--; reps > 0 {
						k = (k + 3) % 10
						goto group
					}
					break
				}
				jumps = append(jumps, len(out))
				out = append(out, isa.Instruction{Opcode: isa.ClassJMP | j, Dst: 0, Offset: int16(b[3])})
			case 12: // a sum of loaded values: rA = *(u64 *)(rB + off); rA += rC; rC = rA
				out = append(out, isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: dst, Src: base, Offset: off},
					isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: dst, Src: src},
					isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: src, Src: dst})
			case 9: // ldxb 4*([k]&0xf) as cbpf translates it
				out = append(out, isa.Instruction{Opcode: isa.ClassLD | isa.ModeABS | isa.SizeB, Imm: int32(b[3] % 20)},
					isa.Instruction{Opcode: isa.ClassALU | isa.OpAND | isa.SrcK, Imm: 0xf},
					isa.Instruction{Opcode: isa.ClassALU | isa.OpLSH | isa.SrcK, Imm: 2},
					isa.Instruction{Opcode: isa.ClassALU | isa.OpMOV | isa.SrcX, Dst: dst, Src: 0})
			}
		case 11: // exit or ja
			if b[2]&1 != 0 {
				out = append(out, isa.Instruction{Opcode: isa.OpcodeExit})
			} else {
				jumps = append(jumps, len(out))
				out = append(out, isa.Instruction{Opcode: isa.OpcodeJA, Offset: int16(b[3])})
			}
		}
	}
	out = append(out, isa.Instruction{Opcode: isa.OpcodeExit})
	// Point every jump at a real instruction: the raw value picks one.
	starts := make([]int, 0, len(out))
	for i := 0; i < len(out); i++ {
		starts = append(starts, i)
		if out[i].IsLDDW() {
			i++
		}
	}
	for _, j := range jumps {
		in := &out[j]
		raw := int(uint16(in.Offset))
		if in.Opcode == isa.OpcodeCall {
			raw = int(in.Imm)
		}
		t := starts[raw%len(starts)]
		if in.Opcode == isa.OpcodeCall {
			in.Imm = int32(t - j - 1)
		} else {
			in.Offset = int16(t - j - 1)
		}
	}
	return out
}

// TestGenProgramValid keeps FuzzInterpGen honest: nearly every program it
// generates must pass isa.Validate, or the fuzzer would discard its input.
func TestGenProgramValid(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	valid := 0
	fusedKinds, accum := map[uint8]bool{}, map[uint8]bool{}
	chains := 0 // programs with a lookup chain of two groups or more (chainGroups)
	tm := newTestMaps(t)
	const tries = 2000
	for i := 0; i < tries; i++ {
		seed := make([]byte, rng.Intn(300))
		rng.Read(seed)
		insns := genProgram(seed)
		if err := isa.Validate(insns); err == nil {
			valid++
			if p, err := Load(insns, Options{Helpers: envHelpers(nil, nil), Inline: tm.inline}); err == nil {
				for _, c := range p.chains {
					if c.n >= 2 {
						chains++
						break
					}
				}
				for _, o := range p.code {
					fusedKinds[o.kind] = true
					if (o.kind == opMapGroupArray || o.kind == opMapGroupHash) && o.aux&groupAccum != 0 {
						accum[o.kind] = true
					}
				}
			}
		} else if i < 5 {
			t.Logf("invalid: %v", err)
		}
	}
	if valid < tries*95/100 {
		t.Errorf("only %d of %d generated programs are valid", valid, tries)
	}
	// The fuzzer must reach every superinstruction.
	for k := opMovXAddK; k < numOps; k++ {
		if !fusedKinds[k] {
			t.Errorf("no generated program contains superinstruction kind %d", k)
		}
	}
	if chains < tries/400 {
		t.Errorf("only %d generated programs have a lookup chain", chains)
	}
	if !accum[opMapGroupArray] || !accum[opMapGroupHash] {
		t.Errorf("no generated lookup group runs its accumulation (array %v, hash %v)", accum[opMapGroupArray], accum[opMapGroupHash])
	}
}

// runOutcome is everything observable about one run.
type runOutcome struct {
	r0       uint64
	err      string
	executed uint64
	mem      []byte
}

// runBoth runs the VM's program with budget twice, normally and with every
// instruction stepped (the path of a run's last, partly paid segment), on
// buf holding a fresh copy of mem each time, and returns both outcomes.
// Callers compare runs on one VM and one buffer only: a program may
// branch on the addresses of its stack and memory.
func runBoth(vm *VM, buf, mem []byte, budget uint64, reset func()) (normal, stepped runOutcome) {
	vm.SetBudget(budget)
	defer vm.SetBudget(0)
	var out [2]runOutcome
	for i := range out {
		copy(buf, mem)
		reset()
		vm.setStepAll(i == 1)
		r0, err := vm.Run(buf)
		out[i] = runOutcome{r0: r0, executed: vm.Executed(), mem: append([]byte(nil), buf...)}
		if err != nil {
			out[i].err = stableErr(err)
		}
	}
	vm.setStepAll(false)
	return out[0], out[1]
}

// faultAddr is the address an access error names.
var faultAddr = regexp.MustCompile(`at 0x[0-9a-f]+ `)

// stableErr is err's text without the address of a faulting access: the
// test maps are refilled between the runs compared, and a preallocated
// hash map's update of an existing key takes a free element (as the
// kernel's does), so an access relative to a looked-up value faults at
// an address that moves from run to run; the instruction, its operands
// and the offset still name the fault.
func stableErr(err error) string {
	return faultAddr.ReplaceAllString(err.Error(), "at ADDR ")
}

func sameOutcome(a, b runOutcome) bool {
	return a.r0 == b.r0 && a.err == b.err && a.executed == b.executed && bytes.Equal(a.mem, b.mem)
}

// TestSegmentBudgetAgreesWithStepping checks the segment-at-a-time budget
// against paying instruction by instruction: same results, errors (with
// the failing index), instruction counts and memory, for budgets that end
// anywhere in a program.
func TestSegmentBudgetAgreesWithStepping(t *testing.T) {
	ro := make([]byte, 8)
	rw := make([]byte, 8)
	helpers := envHelpers(ro, rw)
	tm := newTestMaps(t)
	reset := func() { clear(ro); clear(rw); tm.reset() }
	rng := rand.New(rand.NewSource(2))
	mem := make([]byte, 64)
	tested := 0
	for i := 0; i < 200; i++ {
		seed := make([]byte, 20+rng.Intn(300))
		rng.Read(seed)
		rng.Read(mem)
		insns := genProgram(seed)
		p, err := Load(insns, Options{Helpers: helpers, Inline: tm.inline})
		if err != nil {
			continue
		}
		vm, buf := p.NewVM(), make([]byte, len(mem))
		full, _ := runBoth(vm, buf, mem, 1<<20, reset)
		for _, budget := range []uint64{1, 2, 3, 7, full.executed / 2, full.executed - 1, full.executed, full.executed + 1, 1 << 20} {
			if budget == 0 || budget > 1<<20 {
				continue
			}
			a, b := runBoth(vm, buf, mem, budget, reset)
			if !sameOutcome(a, b) {
				t.Fatalf("program %d, budget %d:\nsegments: %+v\nstepping: %+v\n%s", i, budget, a, b, isa.FormatProgram(insns))
			}
			if budget < full.executed && a.executed != budget {
				t.Fatalf("program %d, budget %d: executed %d", i, budget, a.executed)
			}
			tested++
		}
	}
	if tested < 1000 {
		t.Fatalf("only %d comparisons", tested)
	}
}
