package main

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/bpfvm/bpfvm/cbpf"
	"github.com/bpfvm/bpfvm/internal/jit"
	"github.com/bpfvm/bpfvm/pcapfilter"
)

// randomProgram builds a program the kernel checker accepts: valid
// opcodes, forward jumps in range, scratch memory written before read
// (by storing to every slot first), and a return at the end.
func randomProgram(r *rand.Rand) []cbpf.Instruction {
	var prog []cbpf.Instruction
	for i := 0; i < cbpf.MemWords; i++ {
		prog = append(prog, cbpf.Instruction{Op: cbpf.ClassST, K: uint32(i)})
	}
	n := 1 + r.IntN(30)
	smallK := func() uint32 {
		switch r.IntN(4) {
		case 0:
			return r.Uint32()
		case 1:
			return uint32(r.IntN(64))
		}
		return uint32(r.IntN(20))
	}
	alu := []uint16{cbpf.AluADD, cbpf.AluSUB, cbpf.AluMUL, cbpf.AluDIV, cbpf.AluMOD, cbpf.AluAND, cbpf.AluOR, cbpf.AluXOR, cbpf.AluLSH, cbpf.AluRSH}
	jmp := []uint16{cbpf.JmpJEQ, cbpf.JmpJGT, cbpf.JmpJGE, cbpf.JmpJSET}
	sizes := []uint16{cbpf.SizeW, cbpf.SizeH, cbpf.SizeB}
	for i := 0; i < n; i++ {
		left := n - i // instructions after this one, before the final ret
		var ins cbpf.Instruction
		switch r.IntN(12) {
		case 0:
			ins = cbpf.Instruction{Op: cbpf.ClassLD | cbpf.ModeIMM, K: smallK()}
		case 1:
			ins = cbpf.Instruction{Op: cbpf.ClassLDX | cbpf.ModeIMM, K: smallK()}
		case 2:
			ins = cbpf.Instruction{Op: cbpf.ClassLD | sizes[r.IntN(3)] | cbpf.ModeABS, K: uint32(r.IntN(80))}
		case 3:
			ins = cbpf.Instruction{Op: cbpf.ClassLD | sizes[r.IntN(3)] | cbpf.ModeIND, K: uint32(r.IntN(40))}
		case 4:
			ins = cbpf.Instruction{Op: cbpf.ClassLDX | cbpf.SizeB | cbpf.ModeMSH, K: uint32(r.IntN(70))}
		case 5:
			op := alu[r.IntN(len(alu))]
			k := smallK()
			if (op == cbpf.AluDIV || op == cbpf.AluMOD) && k == 0 {
				k = 3
			}
			if (op == cbpf.AluLSH || op == cbpf.AluRSH) && k >= 32 {
				k %= 32
			}
			ins = cbpf.Instruction{Op: cbpf.ClassALU | op | cbpf.SrcK, K: k}
		case 6:
			ins = cbpf.Instruction{Op: cbpf.ClassALU | alu[r.IntN(len(alu))] | cbpf.SrcX}
		case 7:
			ins = cbpf.Instruction{Op: cbpf.ClassJMP | jmp[r.IntN(4)] | uint16(r.IntN(2))*cbpf.SrcX, K: smallK(), Jt: uint8(r.IntN(left)), Jf: uint8(r.IntN(left))}
		case 8:
			ins = cbpf.Instruction{Op: []uint16{cbpf.ClassLD | cbpf.ModeMEM, cbpf.ClassLDX | cbpf.ModeMEM, cbpf.ClassST, cbpf.ClassSTX}[r.IntN(4)], K: uint32(r.IntN(cbpf.MemWords))}
		case 9:
			ins = cbpf.Instruction{Op: []uint16{cbpf.ClassMISC | cbpf.MiscTAX, cbpf.ClassMISC | cbpf.MiscTXA, cbpf.ClassALU | cbpf.AluNEG, cbpf.ClassLD | cbpf.ModeLEN | cbpf.SizeW, cbpf.ClassLDX | cbpf.ModeLEN | cbpf.SizeW}[r.IntN(5)]}
		case 10:
			ins = cbpf.Instruction{Op: cbpf.ClassJMP | cbpf.JmpJA, K: uint32(r.IntN(left))}
		default:
			ins = cbpf.Instruction{Op: cbpf.ClassRET | []uint16{cbpf.SrcK, cbpf.RetA}[r.IntN(2)], K: smallK()}
		}
		prog = append(prog, ins)
	}
	return append(prog, cbpf.Instruction{Op: cbpf.ClassRET | cbpf.RetA})
}

// filterTestEngines are the --engine names the tests run (jit only where
// it is available).
func filterTestEngines() []string {
	e := []string{"classic", "interp"}
	if jit.Available() == nil {
		e = append(e, "jit")
	}
	return e
}

func mustMatcher(tb testing.TB, prog []cbpf.Instruction, engine string) *packetMatcher {
	tb.Helper()
	pm, err := newPacketMatcher(prog, filterEngines[engine])
	if err != nil {
		tb.Fatalf("%s: %v\n%s", engine, err, cbpf.FormatListing(prog))
	}
	return pm
}

// Every engine agrees with cbpf.Eval, the reference, on every program the
// checker accepts, with the wire length longer than the capture or not.
func TestPacketMatcherMatchesEval(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	pkts := append(testFrames(), nil, []byte{1}, make([]byte, 13))
	n := 3000
	if testing.Short() {
		n = 300
	}
	checked := 0
	for i := 0; i < n; i++ {
		prog := randomProgram(r)
		if cbpf.Check(prog) != nil {
			continue
		}
		checked++
		for _, engine := range filterTestEngines() {
			pm := mustMatcher(t, prog, engine)
			for _, p := range pkts {
				for _, wire := range []uint32{uint32(len(p)), uint32(len(p)) + 77} {
					got, err := pm.match(p, wire)
					want := cbpf.Eval(prog, p, &cbpf.Metadata{WireLen: wire})
					if err != nil || got != want {
						t.Fatalf("%s, program %d: got %d, %v; cbpf.Eval %d on a %d-byte packet of %d on the wire\n%s", engine, i, got, err, want, len(p), wire, cbpf.FormatListing(prog))
					}
				}
			}
			pm.Close()
		}
	}
	if checked < n/2 {
		t.Fatalf("only %d random programs passed the checker", checked)
	}
}

// Programs using ancillary loads run too (with no metadata: a capture
// has none).
func TestPacketMatcherAncillary(t *testing.T) {
	prog := []cbpf.Instruction{
		{Op: cbpf.ClassLD | cbpf.SizeW | cbpf.ModeABS, K: uint32(0xfffff000) + cbpf.AncillaryPktType},
		{Op: cbpf.ClassALU | cbpf.AluADD | cbpf.SrcK, K: 5},
		{Op: cbpf.ClassRET | cbpf.RetA},
	}
	for _, engine := range filterTestEngines() {
		pm := mustMatcher(t, prog, engine)
		if got, err := pm.match([]byte{1, 2, 3}, 3); err != nil || got != 5 {
			t.Errorf("%s: got %d, %v; want 5", engine, got, err)
		}
		pm.Close()
	}
}

func FuzzPacketMatcher(f *testing.F) {
	f.Add(uint64(1), []byte{0x45, 0, 0, 40}, uint32(0))
	f.Add(uint64(7), []byte{}, uint32(1500))
	f.Fuzz(func(t *testing.T, seed uint64, pkt []byte, extra uint32) {
		r := rand.New(rand.NewPCG(seed, seed>>7))
		prog := randomProgram(r)
		if cbpf.Check(prog) != nil {
			return
		}
		wire := uint32(len(pkt)) + extra%4096
		want := cbpf.Eval(prog, pkt, &cbpf.Metadata{WireLen: wire})
		for _, engine := range filterTestEngines() {
			pm := mustMatcher(t, prog, engine)
			if got, err := pm.match(pkt, wire); err != nil || got != want {
				t.Fatalf("%s: got %d, %v; cbpf.Eval %d\n%s", engine, got, err, want, cbpf.FormatListing(prog))
			}
			pm.Close()
		}
	})
}

// capturePackets returns the packets of a capture written by
// writeBigCapture.
func capturePackets(tb testing.TB, n int) [][]byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "c.pcap")
	writeBigCapture(tb, path, n)
	c, err := openCapture(path, true)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	var pkts [][]byte
	for {
		p, err := c.next()
		if err != nil {
			break
		}
		pkts = append(pkts, append([]byte(nil), p.data...))
	}
	return pkts
}

// Programs compiled from expressions agree with cbpf.Eval on varied
// traffic, including packets cut short (the wire length then differs
// from the captured one).
func TestPacketMatcherCompiledMatchesEval(t *testing.T) {
	pkts := capturePackets(t, 3000)
	exprs := append(benchExprs, "tcp[1] & 0x40 != 0", "len > 300", "ip[6:2] & 0x1fff = 0", "udp dst port 53",
		"ip6 and tcp port 443", "net 10.0.0.0/30 and not port 22", "ether[13] = 6", "tcp[2:2] = 80",
		"ip[2:2] > 200", "ip6[6] = 6 and ip6[40:2] >= 80", "greater 100 and tcp")
	for _, expr := range exprs {
		prog, err := pcapfilter.Compile(expr, pcapfilter.LinkTypeEthernet, pcapfilter.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, engine := range filterTestEngines() {
			pm := mustMatcher(t, prog, engine)
			matched := 0
			for i, p := range pkts {
				for _, cut := range []int{len(p), min(len(p), 40), min(len(p), 15)} {
					got, err := pm.match(p[:cut], uint32(len(p)))
					want := cbpf.Eval(prog, p[:cut], &cbpf.Metadata{WireLen: uint32(len(p))})
					if cut == len(p) && got != 0 {
						matched++
					}
					if err != nil || got != want {
						t.Fatalf("%s %q, packet %d cut to %d: got %d, %v; cbpf.Eval %d", engine, expr, i, cut, got, err, want)
					}
				}
			}
			if matched == 0 || matched == len(pkts) {
				t.Errorf("%q matched %d of %d packets: a poor test", expr, matched, len(pkts))
			}
			pm.Close()
		}
	}
}

// BenchmarkPacketMatcher measures the engines alone over varied traffic
// (cpu-ns/packet: the CPU time of the benchmark's thread).
func BenchmarkPacketMatcher(b *testing.B) {
	pkts := capturePackets(b, 1000) // in the cache: the engine, not memory
	for _, expr := range benchExprs {
		prog, err := pcapfilter.Compile(expr, pcapfilter.LinkTypeEthernet, pcapfilter.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, engine := range filterTestEngines() {
			pm := mustMatcher(b, prog, engine)
			b.Run(engine+"/"+expr, func(b *testing.B) {
				n := 0
				cpu := threadCPU()
				for b.Loop() {
					for _, p := range pkts {
						if v, _ := pm.match(p, uint32(len(p))); v != 0 {
							n++
						}
					}
				}
				perPacket := float64(b.N) * float64(len(pkts))
				if d := cpu(); d > 0 {
					b.ReportMetric(float64(d.Nanoseconds())/perPacket, "cpu-ns/packet")
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perPacket, "ns/packet")
			})
			pm.Close()
		}
	}
}
