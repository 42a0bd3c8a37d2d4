package bpfvm

import (
	"bytes"
	"errors"
	"math/bits"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// verifierGaps are the testdata objects the verifier cannot analyse yet
// (helper prototypes it lacks): it rejects them as unsupported, never as
// unsafe, and the tests load them WithoutVerifier. Remove an entry when
// the verifier learns it (TestVerifierAcceptsTestdata fails until then).
var verifierGaps = map[string]string{}

// gapOpts returns WithoutVerifier for a known verifier gap.
func gapOpts(obj string) []Option {
	if _, ok := verifierGaps[filepath.Base(obj)]; ok {
		return []Option{WithoutVerifier()}
	}
	return nil
}

// TestVerifierAcceptsTestdata: every clang-compiled program in testdata/
// and examples/ passes the verifier (a rejection is a bug in the
// verifier or in the configuration LoadCollection gives it), except the
// known gaps, which must be rejected as unsupported.
func TestVerifierAcceptsTestdata(t *testing.T) {
	objs, err := filepath.Glob("testdata/*.o")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := filepath.Glob("examples/*/bpf/*.o")
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, ex...)
	if len(objs) < 30 {
		t.Fatalf("only %d objects found", len(objs))
	}
	for _, obj := range objs {
		t.Run(obj, func(t *testing.T) {
			spec, err := ebpf.LoadCollectionSpec(obj)
			if err != nil {
				t.Fatal(err)
			}
			for _, ps := range spec.Programs {
				if ps.Type == ebpf.UnspecifiedProgram {
					// Sections libbpf does not recognise (legacy.o):
					// the test objects' such programs are XDP.
					ps.Type = ebpf.XDP
				}
			}
			coll, err := NewRuntime(WithNumCPU(2), testKconfig).LoadCollection(spec)
			if gap, ok := verifierGaps[filepath.Base(obj)]; ok {
				var ve *VerifierError
				if err == nil {
					coll.Close()
					t.Fatalf("accepted now: remove it from verifierGaps (%s)", gap)
				}
				if !errors.As(err, &ve) || ve.Kind != VerifierUnsupported {
					t.Fatalf("known gap (%s) rejected otherwise: %v", gap, err)
				}
				t.Logf("known verifier gap, %s: %v", gap, err)
				return
			}
			if err != nil {
				var ve *VerifierError
				if errors.As(err, &ve) {
					t.Fatalf("%v\n%s", err, ve.Detail())
				}
				t.Fatal(err)
			}
			defer coll.Close()
			if len(coll.Programs) != len(spec.Programs) {
				t.Fatalf("%d programs loaded, the object has %d", len(coll.Programs), len(spec.Programs))
			}
		})
	}
}

func oneProgram(typ ebpf.ProgramType, insns asm.Instructions) *ebpf.CollectionSpec {
	return &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"p": {Name: "p", Type: typ, Instructions: insns, License: "GPL"},
	}}
}

// TestVerifierRejectsUnsafe: a program that reads the packet without a
// bounds check fails to load with the verifier's reason; WithoutVerifier
// loads it and its run fails on the runtime check instead.
func TestVerifierRejectsUnsafe(t *testing.T) {
	spec := oneProgram(ebpf.XDP, asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // r2 = xdp_md.data
		asm.LoadMem(asm.R0, asm.R2, 30000, asm.Byte),
		asm.Return(),
	})
	_, err := NewRuntime().LoadCollection(spec)
	var ve *VerifierError
	if !errors.Is(err, ErrLoad) || !errors.As(err, &ve) {
		t.Fatalf("unsafe program: %v", err)
	}
	if ve.Kind != VerifierUnsafe || ve.Index != 1 || !strings.Contains(err.Error(), "program p") ||
		!strings.Contains(ve.Reason, "packet") {
		t.Fatalf("rejection: kind %v index %d: %v", ve.Kind, ve.Index, err)
	}
	if !strings.Contains(ve.Detail(), "R2=pkt") {
		t.Fatalf("detail lacks the state:\n%s", ve.Detail())
	}
	for _, e := range []Engine{Interpreter, JIT} {
		coll, err := NewRuntime(WithoutVerifier(), WithEngine(e)).LoadCollection(spec)
		if err != nil {
			t.Fatalf("%s: WithoutVerifier: %v", e, err)
		}
		_, err = coll.Programs["p"].Run(&RunOptions{Data: udpPkt})
		coll.Close()
		if err == nil || !strings.Contains(err.Error(), "instruction 1") {
			t.Fatalf("%s: unverified out-of-bounds read ran: %v", e, err)
		}
	}
}

// TestVerifierStackAndLines: a stack access below the frame is refused,
// and a rejection of an object program quotes its source line.
func TestVerifierStackAndLines(t *testing.T) {
	_, err := NewRuntime().LoadCollection(oneProgram(ebpf.SocketFilter, asm.Instructions{
		asm.StoreMem(asm.R10, -520, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}))
	var ve *VerifierError
	if !errors.As(err, &ve) || ve.Index != 0 || !strings.Contains(ve.Reason, "stack") {
		t.Fatalf("stack underflow: %v", err)
	}
	// An object program with its bounds check removed.
	spec, err := ebpf.LoadCollectionSpec("testdata/xdp_swap_mac.o")
	if err != nil {
		t.Fatal(err)
	}
	ps := spec.Programs["xdp_swap_mac"]
	removed := false
	for i, in := range ps.Instructions {
		if in.OpCode.JumpOp() == asm.JGT && in.Src != 0 && !removed {
			// if rX > data_end goto drop  ->  fall through always
			ps.Instructions[i] = asm.Mov.Reg(asm.R0, asm.R0).WithMetadata(in.Metadata)
			removed = true
		}
	}
	if !removed {
		t.Fatal("no bounds check found to remove")
	}
	_, err = NewRuntime().LoadCollection(spec)
	if !errors.As(err, &ve) || ve.Kind != VerifierUnsafe || !strings.Contains(ve.Line, "xdp_swap_mac.c:") {
		t.Fatalf("no source line in the rejection: %v", err)
	}
	t.Logf("%s", ve.Detail())
}

// TestVerifierHostHelper: the verifier cannot check calls of host helpers.
func TestVerifierHostHelper(t *testing.T) {
	spec := oneProgram(ebpf.XDP, asm.Instructions{asm.BuiltinFunc(0x10001).Call(), asm.Return()})
	h := WithHelper(0x10001, func(Memory, uint64, uint64, uint64, uint64, uint64) (uint64, error) { return 7, nil })
	_, err := NewRuntime(h).LoadCollection(spec)
	var ve *VerifierError
	if !errors.As(err, &ve) || ve.Kind != VerifierUnsupported || !strings.Contains(err.Error(), "WithoutVerifier") {
		t.Fatalf("host helper call: %v", err)
	}
	coll, err := NewRuntime(h, WithoutVerifier()).LoadCollection(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	if ret, err := coll.Programs["p"].Run(&RunOptions{Data: udpPkt}); ret != 7 || err != nil {
		t.Fatalf("ret %d, %v", ret, err)
	}
}

// TestProvenAccesses: the verifier's facts reach the engine for types
// whose context bpfvm sizes, never for unverified programs or for
// tracing contexts of the caller's length; on the JIT, a program run
// with its proven accesses unchecked gives the results of the checked
// run.
func TestProvenAccesses(t *testing.T) {
	cases := []struct {
		obj, prog string
		proven    bool
	}{
		{"xdp_firewall.o", "xdp_firewall", true},
		{"xdp_swap_mac.o", "xdp_swap_mac", true},
		{"xdp_adjust.o", "xdp_adjust", true},
		{"parse_tcp.o", "parse_tcp", true},
		{"tc_fields.o", "tc_fields", true},
		{"global_data.o", "global_data", true}, // global data: persistent regions
		{"bpf2bpf.o", "bpf2bpf", true},
		{"hash_ops.o", "hash_ops", true},
		{"raw_tp.o", "raw_tp", false},
	}
	pkts := [][]byte{udpPkt, tcpPkt, bcastPkt, otherPkt, arpPkt}
	for _, c := range cases {
		t.Run(c.prog, func(t *testing.T) {
			_, checked := loadTestdata(t, c.obj, WithEngine(JIT), WithoutVerifier(), WithRandomSeed(1))
			_, fast := loadTestdata(t, c.obj, WithEngine(JIT), WithRandomSeed(1))
			pc, pf := checked.Programs[c.prog], fast.Programs[c.prog]
			if pc.proven != nil {
				t.Fatal("an unverified program has proven accesses")
			}
			n := 0
			for _, w := range pf.proven {
				n += bits.OnesCount64(w)
			}
			if c.proven != (n > 0) {
				t.Fatalf("%d proven accesses, want some: %v", n, c.proven)
			}
			for i := range pf.insns {
				if pf.proven != nil && pf.proven[i/64]>>(i%64)&1 != 0 {
					if cl := pf.insns[i].Class(); cl != isa.ClassLDX && cl != isa.ClassST && cl != isa.ClassSTX {
						t.Fatalf("slot %d (%v) marked proven", i, pf.insns[i])
					}
				}
			}
			if c.proven == false {
				return
			}
			for i, pkt := range pkts {
				o1 := &RunOptions{Data: pkt, DataOut: make([]byte, 4096)}
				o2 := &RunOptions{Data: pkt, DataOut: make([]byte, 4096)}
				r1, e1 := pc.Run(o1)
				r2, e2 := pf.Run(o2)
				if r1 != r2 || (e1 == nil) != (e2 == nil) || !bytes.Equal(o1.DataOut, o2.DataOut) {
					t.Fatalf("packet %d: checked %d %v %x, proven %d %v %x", i, r1, e1, o1.DataOut, r2, e2, o2.DataOut)
				}
			}
			for _, m := range []string{"counters", "stats", "seen"} {
				if checked.Maps[m] == nil {
					continue
				}
				var k, v1, v2 []byte
				it1 := checked.Maps[m].Iterate()
				for it1.Next(&k, &v1) {
					if err := fast.Maps[m].Lookup(k, &v2); err != nil || !bytes.Equal(v1, v2) {
						t.Fatalf("map %s key %x: %x vs %x (%v)", m, k, v1, v2, err)
					}
				}
			}
		})
	}
}

// BenchmarkProven compares JIT runs with every access checked
// (WithoutVerifier) and with the verifier's proven accesses unchecked.
func BenchmarkProven(b *testing.B) {
	for _, c := range []struct{ obj, prog string }{
		{"xdp_firewall.o", "xdp_firewall"},
		{"xdp_swap_mac.o", "xdp_swap_mac"},
		{"parse_tcp.o", "parse_tcp"},
		{"tc_fields.o", "tc_fields"},
		{"percpu_counters.o", "percpu_counters"},
		{"bench_maps.o", "bench_array_lookup"},
	} {
		for _, mode := range []string{"checked", "proven"} {
			b.Run(c.prog+"/"+mode, func(b *testing.B) {
				opts := []Option{WithEngine(JIT)}
				if mode == "checked" {
					opts = append(opts, WithoutVerifier())
				}
				_, coll := loadTestdata(b, c.obj, opts...)
				ro := &RunOptions{Data: tcpPkt, Repeat: uint32(b.N)}
				b.ResetTimer()
				if _, err := coll.Programs[c.prog].Run(ro); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(ro.Duration.Nanoseconds()), "ns/run")
			})
		}
	}
}
