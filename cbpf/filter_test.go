package cbpf

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/bpfvm/bpfvm/internal/jit"
)

// testEngines are the engines every test compares with Eval: the JIT too
// where it runs.
var testEngines = func() []Engine {
	e := []Engine{EngineClassic, EngineInterp}
	if jit.Available() == nil {
		e = append(e, EngineJIT)
	}
	return e
}()

func TestFilterHTTP(t *testing.T) {
	for _, e := range testEngines {
		f, err := NewFilter(httpProgram, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		if f.Engine() != e {
			t.Errorf("Engine() = %v, want %v", f.Engine(), e)
		}
		for _, c := range []struct {
			pkt  []byte
			want uint32
		}{
			{tcpFrame(80, 5, 0), 262144},
			{tcpFrame(80, 6, 0), 262144},
			{tcpFrame(443, 5, 0), 0},
			{tcpFrame(80, 5, 0)[:30], 0},
			{nil, 0},
		} {
			got, err := f.Match(c.pkt, nil)
			if err != nil || got != c.want {
				t.Errorf("%v: Match = %d, %v; want %d", e, got, err, c.want)
			}
		}
	}
}

func TestNewFilterErrors(t *testing.T) {
	if _, err := NewFilter([]Instruction{Stmt(OpLDImm, 0)}, Options{}); !errors.Is(err, ErrInvalidProgram) {
		t.Errorf("invalid program: %v", err)
	}
	if _, err := NewFilter(httpProgram, Options{Engine: EngineJIT}); (jit.Available() != nil) != errors.Is(err, ErrEngineUnavailable) {
		t.Errorf("jit: %v (available: %v)", err, jit.Available())
	}
	if _, err := NewFilter(httpProgram, Options{Engine: 99}); err == nil {
		t.Error("unknown engine accepted")
	}
}

// TestEnginesAgree is the differential test of the translation: random
// checked programs on random packets and metadata give the same verdict on
// Eval (the reference), the classic fast path and the eBPF translation on
// the interpreter.
func TestEnginesAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	programs := 10000
	if testing.Short() {
		programs = 300
	}
	opts := genOptions{ancillary: allAncillary, negative: true, maxOff: 80}
	for i := 0; i < programs; i++ {
		prog := randomProgram(r, 2+r.IntN(40), opts)
		if err := Check(prog); err != nil {
			t.Fatalf("generator made an invalid program: %v\n%s", err, FormatListing(prog))
		}
		var filters []*Filter
		var matchers []*Matcher
		for _, e := range testEngines {
			f, err := NewFilter(prog, Options{Engine: e})
			if err != nil {
				t.Fatalf("%v: %v\n%s", e, err, FormatListing(prog))
			}
			filters = append(filters, f)
			matchers = append(matchers, f.NewMatcher())
		}
		var batch [][]byte
		for range 8 {
			pkt := randomPacket(r)
			batch = append(batch, pkt)
			md := randomMetadata(r)
			want := Eval(prog, pkt, md())
			wantPlain := Eval(prog, pkt, nil)
			for k, f := range filters {
				got, err := f.Match(pkt, md())
				if err != nil || got != want {
					t.Fatalf("%v: Match = %#x, %v; Eval = %#x\npacket % x\nmetadata %+v\n%s", f.Engine(), got, err, want, pkt, *md(), FormatListing(prog))
				}
				// A Matcher, without metadata (the JIT's filter entry
				// alone) and with.
				if got, err := matchers[k].Match(pkt, nil); !usesRandom(prog) && (err != nil || got != wantPlain) {
					t.Fatalf("%v: Matcher.Match(nil metadata) = %#x, %v; Eval = %#x\npacket % x\n%s", f.Engine(), got, err, wantPlain, pkt, FormatListing(prog))
				}
				if got, err := matchers[k].Match(pkt, md()); err != nil || got != want {
					t.Fatalf("%v: Matcher.Match = %#x, %v; Eval = %#x\npacket % x\nmetadata %+v\n%s", f.Engine(), got, err, want, pkt, *md(), FormatListing(prog))
				}
			}
		}
		// The batch entries, on matchers that just ran with metadata.
		wire := make([]uint32, len(batch))
		for k := range wire {
			wire[k] = uint32(r.IntN(3) * (len(batch[k]) + r.IntN(100)))
		}
		for k, m := range matchers {
			checkBatch(t, prog, filters[k], m, batch, wire)
			m.Close()
			filters[k].Close()
		}
	}
}

// checkBatch: MatchBatch on the matcher and the filter gives Eval's
// verdicts, without and with wire lengths (0: the packet's length).
func checkBatch(t *testing.T, prog []Instruction, f *Filter, m *Matcher, pkts [][]byte, wire []uint32) {
	t.Helper()
	if usesRandom(prog) {
		return
	}
	for _, wl := range [][]uint32{nil, wire} {
		for _, batch := range []func([][]byte, []uint32, []uint32) error{m.MatchBatch, f.MatchBatch} {
			verdicts := make([]uint32, len(pkts))
			for k := range verdicts {
				verdicts[k] = 0xdead
			}
			if err := batch(pkts, wl, verdicts); err != nil {
				t.Fatalf("%v: MatchBatch: %v\n%s", f.Engine(), err, FormatListing(prog))
			}
			for k, pkt := range pkts {
				var md *Metadata
				if wl != nil {
					md = &Metadata{WireLen: wl[k]}
				}
				if want := Eval(prog, pkt, md); verdicts[k] != want {
					t.Fatalf("%v: MatchBatch verdict %d = %#x; Eval = %#x (wire lengths %v)\npacket % x\n%s",
						f.Engine(), k, verdicts[k], want, wl, pkt, FormatListing(prog))
				}
			}
		}
	}
}

// usesRandom says prog loads #rand, whose value without metadata is not
// reproducible.
func usesRandom(prog []Instruction) bool {
	for _, ins := range prog {
		if ins.Class() == ClassLD && ins.Op&0xe0 == ModeABS && ins.K == adOff+AncillaryRandom {
			return true
		}
	}
	return false
}

// TestFilterConcurrent runs one filter from many goroutines (go test
// -race finds sharing mistakes in the worker pool).
func TestFilterConcurrent(t *testing.T) {
	prog := mustAssemble(t, "ld #4\nldx #2\nld #nla\nadd #1\nret a")
	pkt := []byte{0, 0, 0, 0, 8, 0, 1, 0, 0, 0, 0, 0, 4, 0, 2, 0}
	for _, e := range testEngines {
		f, err := NewFilter(prog, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					if got, err := f.Match(pkt, nil); err != nil || got != 13 {
						t.Errorf("%v: Match = %d, %v", e, got, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if all := f.workers.Load(); all != nil && len(*all) > 8 {
			t.Errorf("%v: %d machines for 8 goroutines", e, len(*all))
		}
	}
}

func TestMatcher(t *testing.T) {
	prog := mustAssemble(t, "ld #len\njeq #5, meta, plain\nmeta: ld #ifidx\nret a\nplain: ret #1000")
	for _, e := range testEngines {
		f, err := NewFilter(prog, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		m := f.NewMatcher()
		// Alternating with and without metadata: the context must follow.
		for i := range 20 {
			var md *Metadata
			pkt := make([]byte, 3+i%2*2)
			if i%4 == 1 {
				md = &Metadata{IfIndex: 77}
			}
			want := Eval(prog, pkt, md)
			if got, err := m.Match(pkt, md); err != nil || got != want {
				t.Fatalf("%v: round %d: Match = %d, %v; want %d", e, i, got, err, want)
			}
		}
		m.Close()
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestMatcherNoLenWrites covers the runs that skip the per-packet context
// writes: programs without len loads, with and without helper calls, with
// metadata coming and going, through every entry point.
func TestMatcherNoLenWrites(t *testing.T) {
	var nla []byte
	nla = append(nla, 0xaa, 0xbb, 0xcc, 0xdd)
	nla = append(nla, nlattr(1, []byte{1, 2, 3, 4, 5})...)
	nla = append(nla, nlattr(2, []byte{6})...)
	progs := []struct {
		src     string
		helpers bool
	}{
		// Metadata only from the context; the packet from legacy loads.
		{"ld #ifidx\njeq #0, pkt, meta\nmeta: ret a\npkt: ldb [2]\nadd #1\nret a", false},
		// A helper, which finds the packet through the worker.
		{"ld #4\nldx #2\nld #nla\nadd #5\nret a", true},
	}
	for _, pc := range progs {
		prog := mustAssemble(t, pc.src)
		for _, e := range testEngines {
			f, err := NewFilter(prog, Options{Engine: e})
			if err != nil {
				t.Fatal(err)
			}
			m := f.NewMatcher()
			if e == EngineInterp && (m.ivm != nil) == pc.helpers {
				t.Fatalf("%q: the direct interp entry is used: %v, want %v", pc.src, m.ivm != nil, !pc.helpers)
			}
			for i := range 24 {
				pkt := nla[:len(nla)-i%3]
				var md *Metadata
				if i%4 == 1 {
					md = &Metadata{IfIndex: 9 + uint32(i)}
				}
				want := Eval(prog, pkt, md)
				if got, err := m.Match(pkt, md); err != nil || got != want {
					t.Fatalf("%v %q: round %d: Matcher.Match = %d, %v; want %d", e, pc.src, i, got, err, want)
				}
				if got, err := f.Match(pkt, md); err != nil || got != want {
					t.Fatalf("%v %q: round %d: Filter.Match = %d, %v; want %d", e, pc.src, i, got, err, want)
				}
				if i%5 == 0 {
					// A batch after metadata runs: the context must be reset.
					pkts := [][]byte{pkt, nla}
					got := make([]uint32, 2)
					if err := m.MatchBatch(pkts, []uint32{1000, 0}, got); err != nil {
						t.Fatal(err)
					}
					for k, p := range pkts {
						if w := Eval(prog, p, nil); got[k] != w {
							t.Fatalf("%v %q: round %d: batch verdict %d = %d, want %d", e, pc.src, i, k, got[k], w)
						}
					}
				}
			}
			m.Close()
			if err := f.Close(); err != nil {
				t.Error(err)
			}
		}
	}
}

// BenchmarkFilterHTTP is issue 6's figure: `ip and tcp and dst port 80`
// on a 64-byte frame, per engine, through Filter.Match, a Matcher and a
// Matcher's batches (ns/op and cpu-ns/op are per packet throughout).
func BenchmarkFilterHTTP(b *testing.B) {
	pkt := tcpFrame(80, 5, 0)
	if len(pkt) != 64 {
		b.Fatalf("the frame has %d bytes, not 64", len(pkt))
	}
	// Each loop calls its engine directly: an indirect call would cost
	// as much as the fastest engines' whole run.
	for _, e := range testEngines {
		b.Run(e.String(), func(b *testing.B) {
			f, err := NewFilter(httpProgram, Options{Engine: e})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.ReportAllocs()
			cpu := startCPUTimer()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if v, _ := f.Match(pkt, nil); v != 262144 {
					b.Fatal(v)
				}
			}
			b.StopTimer()
			cpu.report(b)
		})
		b.Run(e.String()+"-matcher", func(b *testing.B) {
			f, err := NewFilter(httpProgram, Options{Engine: e})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			m := f.NewMatcher()
			defer m.Close()
			b.ReportAllocs()
			cpu := startCPUTimer()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if v, _ := m.Match(pkt, nil); v != 262144 {
					b.Fatal(v)
				}
			}
			b.StopTimer()
			cpu.report(b)
		})
		// The batch entry: b.N packets (op = one packet) in batches of
		// 64, as a capture loop would hand them over.
		b.Run(e.String()+"-batch64", func(b *testing.B) {
			f, err := NewFilter(httpProgram, Options{Engine: e})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			m := f.NewMatcher()
			defer m.Close()
			pkts := make([][]byte, 64)
			for i := range pkts {
				pkts[i] = pkt
			}
			verdicts := make([]uint32, len(pkts))
			b.ReportAllocs()
			cpu := startCPUTimer()
			b.ResetTimer()
			for done := 0; done < b.N; done += len(pkts) {
				k := min(len(pkts), b.N-done)
				if err := m.MatchBatch(pkts[:k], nil, verdicts[:k]); err != nil || verdicts[k-1] != 262144 {
					b.Fatal(err, verdicts[k-1])
				}
			}
			b.StopTimer()
			cpu.report(b)
		})
	}
	b.Run("eval", func(b *testing.B) {
		cpu := startCPUTimer()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if Eval(httpProgram, pkt, nil) != 262144 {
				b.Fatal()
			}
		}
		b.StopTimer()
		cpu.report(b)
	})
}

// TestPutContext checks that the context holds exactly the values Eval's
// ancillary loads read.
func TestPutContext(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ctx := make([]byte, ContextSize)
	for range 100 {
		md := randomMetadata(r)()
		md.PktType = uint8(r.IntN(256))
		md.PutContext(ctx, 99, 12345)
		for _, off := range contextAncillary {
			if got, want := binary.LittleEndian.Uint32(ctx[off:]), md.ancillary(off, nil, 0, 0); got != want {
				t.Fatalf("context word %d = %#x, ancillary %#x", off, got, want)
			}
		}
		if ContextCookie(ctx) != 12345 || binary.LittleEndian.Uint32(ctx[ctxLen:]) != 99 ||
			binary.LittleEndian.Uint32(ctx[ctxNetOffset:]) != md.NetOffset {
			t.Fatal("cookie, length or network offset misplaced")
		}
	}
}

// TestLongJump translates a maximal program whose ja spans more eBPF
// instructions than a 16-bit offset reaches.
func TestLongJump(t *testing.T) {
	prog := []Instruction{Stmt(OpJA, MaxInstructions-2)} // to the last instruction
	for len(prog) < MaxInstructions-2 {
		prog = append(prog, Stmt(ClassLD|ModeIND|SizeW, 4))
	}
	prog = append(prog, Stmt(OpRetK, 7), Stmt(OpRetK, 9))
	insns, err := Translate(prog)
	if err != nil {
		t.Fatal(err)
	}
	if len(insns) < 0x8000 {
		t.Fatalf("only %d eBPF instructions: the jump is not long", len(insns))
	}
	for _, e := range testEngines {
		f, err := NewFilter(prog, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := f.Match(nil, nil); err != nil || v != 9 {
			t.Errorf("%v: Match = %d, %v; want 9", e, v, err)
		}
	}
}

// TestJITFilterEntry: the JIT engine runs programs without helper-calling
// ancillary loads on the filter entry, with classic BPF's semantics at
// every edge (loads outside the packet, division by X = 0, empty
// packets, the wire length), and falls back to the JIT VM for the others.
func TestJITFilterEntry(t *testing.T) {
	if jit.Available() != nil {
		t.Skip("the JIT is not available here")
	}
	cases := []struct {
		src  string
		pkt  []byte
		md   *Metadata
		want uint32
	}{
		{"ld [2]\nret a", []byte{1, 2, 3, 4, 5, 6}, nil, 0x03040506},
		{"ld [3]\nret a", []byte{1, 2, 3, 4, 5, 6}, nil, 0},                  // out of bounds: drop
		{"ldh [5]\nret #7", []byte{1, 2, 3, 4, 5, 6}, nil, 0},                // half inside
		{"ldb [0]\nret #7", nil, nil, 0},                                     // empty packet
		{"ldb [0]\nret #7", []byte{}, nil, 0},                                // empty, not nil
		{"ld #len\nret a", nil, nil, 0},                                      // len of nothing
		{"ldx #200\nldb [x + 4294967295]\nret a", make([]byte, 300), nil, 0}, // x+k wraps to 199: inside
		{"ldx #0\nld #9\ndiv x\nret #5", []byte{1}, nil, 0},                  // division by X = 0 drops
		{"ldx #0\nld #9\nmod x\nret #5", []byte{1}, nil, 0},
		{"ldx #2\nld #9\ndiv x\nret a", []byte{1}, nil, 4},
		{"ld #len\nret a", make([]byte, 10), &Metadata{WireLen: 1514}, 1514}, // wire length
		{"ldx #len\ntxa\nret a", make([]byte, 10), &Metadata{WireLen: 0}, 10},
		{"ld [8]\nret a", make([]byte, 10), &Metadata{WireLen: 1514}, 0}, // loads bounded by the capture
		{"ldxb 4*([0]&0xf)\nldh [x + 0]\nret a", []byte{0x41, 0, 0, 0, 0xab, 0xcd}, nil, 0xabcd},
		{"ld #0\nst M[3]\nld [0]\nld M[3]\nadd #1\nret a", []byte{0, 0, 0, 0}, nil, 1},
	}
	for _, c := range cases {
		prog := mustAssemble(t, c.src)
		if got := Eval(prog, c.pkt, c.md); got != c.want {
			t.Fatalf("%q: Eval = %#x, want %#x (the case is wrong)", c.src, got, c.want)
		}
		f, err := NewFilter(prog, Options{Engine: EngineJIT})
		if err != nil {
			t.Fatal(err)
		}
		if f.fast == nil {
			t.Errorf("%q: not on the filter entry", c.src)
		}
		m := f.NewMatcher()
		for k := range 3 { // repeated: nothing of a run may leak into the next
			if got, err := m.Match(c.pkt, c.md); err != nil || got != c.want {
				t.Errorf("%q (run %d): Matcher.Match = %#x, %v; want %#x", c.src, k, got, err, c.want)
			}
			if got, err := f.Match(c.pkt, c.md); err != nil || got != c.want {
				t.Errorf("%q (run %d): Match = %#x, %v; want %#x", c.src, k, got, err, c.want)
			}
		}
		m.Close()
		f.Close()
	}
	// Ancillary loads that call helpers need the VM: the filter still
	// runs, just not on the entry.
	f, err := NewFilter(mustAssemble(t, "ld #rand\nret a"), Options{Engine: EngineJIT})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.fast != nil || f.ebpf == nil {
		t.Error("#rand runs on the filter entry, which has no helpers")
	}
	if got, err := f.Match(nil, &Metadata{Random: func() uint32 { return 42 }}); err != nil || got != 42 {
		t.Errorf("#rand: Match = %d, %v; want 42", got, err)
	}
}

// TestMatchersConcurrent: many goroutines, each with its own Matcher of
// one filter, on different packets.
func TestMatchersConcurrent(t *testing.T) {
	for _, e := range testEngines {
		f, err := NewFilter(httpProgram, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := f.NewMatcher()
				defer m.Close()
				port := uint16(79 + g%3) // 80 for some goroutines only
				pkt := tcpFrame(port, 5+g%2, 0)
				want := Eval(httpProgram, pkt, nil)
				for i := range 3000 {
					if got, err := m.Match(pkt, nil); err != nil || got != want {
						t.Errorf("%v goroutine %d run %d: %d, %v; want %d", e, g, i, got, err, want)
						return
					}
				}
			}()
		}
		wg.Wait()
		f.Close()
	}
}

// TestMatchAllocatesNothing: runs on every engine allocate nothing once
// the filter's machines exist, through every entry.
func TestMatchAllocatesNothing(t *testing.T) {
	pkt := tcpFrame(80, 5, 0)
	pkts := [][]byte{pkt, pkt[:30], pkt}
	verdicts := make([]uint32, len(pkts))
	md := &Metadata{WireLen: 1500}
	for _, e := range testEngines {
		f, err := NewFilter(httpProgram, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		m := f.NewMatcher()
		for name, run := range map[string]func(){
			"Filter.Match":       func() { f.Match(pkt, nil) },
			"Filter.Match md":    func() { f.Match(pkt, md) },
			"Matcher.Match":      func() { m.Match(pkt, nil) },
			"Matcher.Match md":   func() { m.Match(pkt, md) },
			"Filter.MatchBatch":  func() { f.MatchBatch(pkts, nil, verdicts) },
			"Matcher.MatchBatch": func() { m.MatchBatch(pkts, nil, verdicts) },
		} {
			run() // the filter's machine
			if n := testing.AllocsPerRun(50, run); n != 0 {
				t.Errorf("%v: %s: %v allocations per run", e, name, n)
			}
		}
		m.Close()
		f.Close()
	}
}
