package cbpf

import (
	"encoding/binary"
	"reflect"
	"testing"
)

func fuzzSeedPrograms(f *testing.F) [][]Instruction {
	progs := [][]Instruction{httpProgram}
	for _, g := range readTcpdumpGolden(f) {
		p, err := ParseC(g.dd)
		if err != nil {
			f.Fatal(err)
		}
		progs = append(progs, p)
	}
	return progs
}

func FuzzAssemble(f *testing.F) {
	f.Add(issueExample)
	f.Add("ld #len\nldx 4*([14]&0xf)\nld [x + -4]\nst M[1]\nld M[1]\njneq #1, l\nl: ret a")
	f.Add("/* c */ ldb #proto ; x\n# line\nja l\nl: ret %x")
	for _, p := range fuzzSeedPrograms(f) {
		if src, err := Disassemble(p); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := Assemble(src)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error %T is not a *SyntaxError: %v", err, err)
			}
			return
		}
		text, err := Disassemble(prog)
		if err != nil {
			t.Fatalf("Disassemble of an assembled program: %v", err)
		}
		back, err := Assemble(text)
		if err != nil || !reflect.DeepEqual(back, prog) {
			t.Fatalf("Assemble(Disassemble(p)) = %v, %v; want %v\n%s", back, err, prog, text)
		}
		roundTripFormats(t, prog)
	})
}

// roundTripFormats checks that the tcpdump C and decimal formats give the
// program back.
func roundTripFormats(t *testing.T, prog []Instruction) {
	if back, err := ParseC(FormatC(prog)); err != nil || !reflect.DeepEqual(back, prog) {
		t.Fatalf("ParseC(FormatC) = %v, %v", back, err)
	}
	if back, err := ParseDecimal(FormatDecimal(prog)); err != nil || !reflect.DeepEqual(back, prog) {
		t.Fatalf("ParseDecimal(FormatDecimal) = %v, %v", back, err)
	}
}

// decodeRaw turns fuzz bytes into instructions (8 bytes each, as struct
// sock_filter on a little-endian host) and a packet (the bytes after the
// first byte n*8, n being data[0] % 32).
func decodeRaw(data []byte) ([]Instruction, []byte) {
	if len(data) == 0 {
		return nil, nil
	}
	n := int(data[0] % 32)
	data = data[1:]
	var prog []Instruction
	for len(prog) < n && len(data) >= 8 {
		prog = append(prog, Instruction{
			Op: binary.LittleEndian.Uint16(data), Jt: data[2], Jf: data[3], K: binary.LittleEndian.Uint32(data[4:]),
		})
		data = data[8:]
	}
	return prog, data
}

func encodeRaw(prog []Instruction, pkt []byte) []byte {
	b := []byte{byte(len(prog))}
	for _, ins := range prog {
		b = binary.LittleEndian.AppendUint16(b, ins.Op)
		b = append(b, ins.Jt, ins.Jf)
		b = binary.LittleEndian.AppendUint32(b, ins.K)
	}
	return append(b, pkt...)
}

func FuzzCheck(f *testing.F) {
	for _, p := range fuzzSeedPrograms(f) {
		if len(p) < 32 {
			f.Add(encodeRaw(p, tcpFrame(80, 5, 0)))
		}
	}
	f.Add(encodeRaw(mustAssemble(f, "ld #4\nldx #2\nld #nla\nldx #0\ndiv x\nret a"), []byte{0, 0, 0, 0, 8, 0, 2, 0}))
	f.Add(encodeRaw(mustAssemble(f, "ldx #3\nld [x + -1048576]\nst M[2]\nldb [-2097152]\nret a"), make([]byte, 30)))
	md := &Metadata{Protocol: 0x800, PktType: 3, IfIndex: 2, VLANPresent: true, VLANTag: 5, NetOffset: 14,
		Random: func() uint32 { return 7 }}
	f.Fuzz(func(t *testing.T, data []byte) {
		prog, pkt := decodeRaw(data)
		Eval(prog, pkt, md) // never panics, valid or not
		if err := Check(prog); err == nil {
			enginesAgree(t, prog, pkt, md)
		}
		// Most raw programs are invalid: also run the closest valid one.
		if fixed := repair(prog); fixed != nil {
			if err := Check(fixed); err != nil {
				t.Fatalf("Check refuses a repaired program: %v\n%s", err, FormatListing(fixed))
			}
			enginesAgree(t, fixed, pkt, md)
		}
	})
}

// enginesAgree runs a checked program on Eval and every engine.
func enginesAgree(t *testing.T, prog []Instruction, pkt []byte, md *Metadata) {
	verdict := Eval(prog, pkt, md)
	for _, e := range testEngines {
		filter, err := NewFilter(prog, Options{Engine: e})
		if err != nil {
			t.Fatalf("%v: NewFilter of a checked program: %v", e, err)
		}
		if got, err := filter.Match(pkt, md); err != nil || got != verdict {
			t.Fatalf("%v: Match = %#x, %v; Eval = %#x\n%s", e, got, err, verdict, FormatListing(prog))
		}
		// A Matcher without metadata (the JIT's filter entry alone),
		// then with a wire length (a truncated capture).
		m := filter.NewMatcher()
		if got, err := m.Match(pkt, nil); !usesRandom(prog) && (err != nil || got != Eval(prog, pkt, nil)) {
			t.Fatalf("%v: Matcher.Match(nil metadata) = %#x, %v; Eval = %#x\n%s", e, got, err, Eval(prog, pkt, nil), FormatListing(prog))
		}
		wire := *md
		wire.WireLen = uint32(len(pkt)) + 1000
		if got, err := m.Match(pkt, &wire); err != nil || got != Eval(prog, pkt, &wire) {
			t.Fatalf("%v: Matcher.Match(wire length) = %#x, %v; Eval = %#x\n%s", e, got, err, Eval(prog, pkt, &wire), FormatListing(prog))
		}
		checkBatch(t, prog, filter, m, [][]byte{pkt, nil, pkt, pkt[:len(pkt)/2]}, []uint32{0, 5, wire.WireLen, uint32(len(pkt))})
		m.Close()
		filter.Close()
	}
	roundTripFormats(t, prog)
}

// repair turns any program into one Check accepts, keeping as much of it
// as possible: scratch memory is written first, unknown opcodes become
// ld #k, operands and jumps are brought in range, the last instruction
// becomes a return.
func repair(prog []Instruction) []Instruction {
	if len(prog) == 0 {
		return nil
	}
	var out []Instruction
	for k := uint32(0); k < MemWords; k++ {
		out = append(out, Stmt(OpSTX, k))
	}
	for pc, ins := range prog {
		left := uint32(len(prog) - pc - 1) // instructions after this one
		switch {
		case pc == len(prog)-1:
			if ins.Op != OpRetA {
				ins = Stmt(OpRetK, ins.K)
			}
		case ins.Op > 0xff || !allowed[ins.Op]:
			ins = Stmt(OpLDImm, ins.K)
		case ins.Op == ClassALU|AluDIV|SrcK || ins.Op == ClassALU|AluMOD|SrcK:
			if ins.K == 0 {
				ins.K = 1
			}
		case ins.Op == ClassALU|AluLSH|SrcK || ins.Op == ClassALU|AluRSH|SrcK:
			ins.K %= 32
		case ins.Op == OpLDMem || ins.Op == OpLDXMem || ins.Op == OpST || ins.Op == OpSTX:
			ins.K %= MemWords
		case ins.Op == OpJA:
			ins.K %= left
		case ins.IsJump():
			ins.Jt = uint8(uint32(ins.Jt) % min(left, 256))
			ins.Jf = uint8(uint32(ins.Jf) % min(left, 256))
		case ins.Class() == ClassLD && ins.Op&0xe0 == ModeABS && ins.K >= adOff:
			ins.K = adOff + ins.K%16*4
		}
		out = append(out, ins)
	}
	return out
}

func FuzzParseTcpdump(f *testing.F) {
	for _, g := range readTcpdumpGolden(f) {
		f.Add(g.d)
		f.Add(g.dd)
		f.Add(g.ddd)
	}
	f.Add("4,40 0 0 12,21 0 1 2048,6 0 0 1,6 0 0 0,")
	f.Fuzz(func(t *testing.T, text string) {
		prog, err := Parse(text)
		if err != nil {
			return
		}
		if len(prog) == 0 {
			t.Fatal("Parse returned no instructions and no error")
		}
		roundTripFormats(t, prog)
		if Detect(text) == FormatTcpdumpD {
			// A parsed listing prints back as itself.
			back, err := ParseListing(FormatListing(prog))
			if err != nil || !reflect.DeepEqual(back, prog) {
				t.Fatalf("ParseListing(FormatListing) = %v, %v", back, err)
			}
		}
	})
}
