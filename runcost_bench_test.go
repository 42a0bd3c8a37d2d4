package bpfvm

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/progtype"
)

// trivialProgram loads "r0 = ret; exit" as a program of type typ.
func trivialProgram(tb testing.TB, typ ebpf.ProgramType, ret int32, opts ...Option) *Program {
	tb.Helper()
	coll, err := NewRuntime(opts...).LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"p": {Name: "p", Type: typ, Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()}, License: "GPL"},
	}, Maps: map[string]*ebpf.MapSpec{}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { coll.Close() })
	return coll.Programs["p"]
}

// BenchmarkRunTrivial is one Program.Run call of a trivial program of each
// networking type, on both engines: the fixed cost of a run. Repeat 0 (the
// embedding call: no Duration) and Repeat 1 (Duration measured).
func BenchmarkRunTrivial(b *testing.B) {
	for _, c := range []struct {
		name string
		typ  ebpf.ProgramType
	}{{"xdp", ebpf.XDP}, {"sched_cls", ebpf.SchedCLS}, {"socket_filter", ebpf.SocketFilter}} {
		for _, e := range []Engine{Interpreter, JIT} {
			for _, repeat := range []uint32{0, 1} {
				name := c.name + "/" + string(e) + "/repeat" + string(rune('0'+repeat))
				b.Run(name, func(b *testing.B) {
					p := trivialProgram(b, c.typ, 2, WithEngine(e))
					opts := &RunOptions{Data: udpPkt, Repeat: repeat}
					b.ReportAllocs()
					cpu := startCPU()
					for b.Loop() {
						if _, err := p.Run(opts); err != nil {
							b.Fatal(err)
						}
					}
					cpu.report(b, 1)
				})
			}
		}
	}
}

// BenchmarkRunner is BenchmarkRunTrivial's xdp case through a Runner (no
// pooled machine per call).
func BenchmarkRunner(b *testing.B) {
	for _, e := range []Engine{Interpreter, JIT} {
		b.Run(string(e), func(b *testing.B) {
			r, err := trivialProgram(b, ebpf.XDP, 2, WithEngine(e)).NewRunner()
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			opts := &RunOptions{Data: udpPkt}
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := r.Run(opts); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
	}
}

// BenchmarkRunSteps measures the steps of one Run separately
// (interpreter; xdp_pass and a trivial tc program), so the fixed cost can
// be attributed: the clock reads of a timed run, taking and giving back a
// pooled instance, a full and an unobserved (repeated) prepare, the
// engine's run, and Finish.
func BenchmarkRunSteps(b *testing.B) {
	_, coll := loadTestdata(b, "xdp_pass.o")
	for _, p := range []*Program{coll.Programs["xdp_pass"], trivialProgram(b, ebpf.SchedCLS, 0)} {
		prefix := p.Type().String() + "/"
		var sink time.Duration
		b.Run(prefix+"clock", func(b *testing.B) {
			cpu := startCPU()
			for b.Loop() {
				start := time.Since(clockBase)
				sink += time.Since(clockBase) - start
			}
			cpu.report(b, 1)
		})
		b.Run(prefix+"pool", func(b *testing.B) {
			cpu := startCPU()
			for b.Loop() {
				inst, err := p.get()
				if err != nil {
					b.Fatal(err)
				}
				p.pool.Put(inst)
			}
			cpu.report(b, 1)
		})
		inst, err := p.get()
		if err != nil {
			b.Fatal(err)
		}
		req := progtype.Request{Data: udpPkt}
		lazy := progtype.Request{Data: udpPkt, Unobserved: true}
		b.Run(prefix+"prepare", func(b *testing.B) {
			cpu := startCPU()
			for b.Loop() {
				if err := inst.run.Prepare(p.typ, req); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
		b.Run(prefix+"prepare-unobserved", func(b *testing.B) {
			cpu := startCPU()
			for b.Loop() {
				if err := inst.run.Prepare(p.typ, lazy); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
		b.Run(prefix+"engine", func(b *testing.B) {
			cpu := startCPU()
			for b.Loop() {
				if _, err := p.runPlain(inst, inst.run, 1); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
		if err := inst.run.Prepare(p.typ, req); err != nil {
			b.Fatal(err)
		}
		b.Run(prefix+"finish", func(b *testing.B) {
			cpu := startCPU()
			for b.Loop() {
				inst.run.Finish()
			}
			cpu.report(b, 1)
		})
		inst.notePrepared(p.typ, len(udpPkt)) // prepared here, not by runOn
		p.pool.Put(inst)
		_ = sink
	}
}

// BenchmarkHookFire is one Hook.Fire with one attached program (the
// embedding use: a hook fired per request), with the verdicts appended to
// a reused slice (FireAppend) and allocated (Fire).
func BenchmarkHookFire(b *testing.B) {
	for _, e := range []Engine{Interpreter, JIT} {
		p := trivialProgram(b, ebpf.XDP, 2, WithEngine(e))
		h := NewHook("ingress", XDP)
		if err := h.Attach(p); err != nil {
			b.Fatal(err)
		}
		b.Run(string(e)+"/append", func(b *testing.B) {
			b.ReportAllocs()
			var out []Verdict
			cpu := startCPU()
			for b.Loop() {
				out = h.FireAppend(out[:0], udpPkt, nil)
				if out[0].Err != nil {
					b.Fatal(out[0].Err)
				}
			}
			cpu.report(b, 1)
		})
		b.Run(string(e)+"/fire", func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if v := h.Fire(udpPkt, nil); v[0].Err != nil {
					b.Fatal(v[0].Err)
				}
			}
			cpu.report(b, 1)
		})
	}
}

// BenchmarkRunSmall is one Program.Run of small programs that are not
// bare (runPinned does not apply): an XDP program that reads its context
// (the packet is copied and the context filled every run, as
// BPF_PROG_TEST_RUN does), a socket filter's legacy packet load, and an
// XDP program that calls a helper (the helper state is set up and reset
// around the run).
func BenchmarkRunSmall(b *testing.B) {
	for _, c := range []struct {
		name  string
		typ   ebpf.ProgramType
		insns asm.Instructions
	}{
		{"ctx", ebpf.XDP, asm.Instructions{ // data_end - data
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R0, asm.R1, 4, asm.Word),
			asm.Sub.Reg(asm.R0, asm.R2),
			asm.Return(),
		}},
		{"ldabs", ebpf.SocketFilter, asm.Instructions{ // a legacy filter: the packet's byte 12
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.LoadAbs(12, asm.Byte),
			asm.Return(),
		}},
		{"helper", ebpf.XDP, asm.Instructions{asm.FnGetPrandomU32.Call(), asm.Mov.Imm(asm.R0, 2), asm.Return()}},
	} {
		for _, e := range []Engine{Interpreter, JIT} {
			b.Run(c.name+"/"+string(e), func(b *testing.B) { benchRunInsns(b, e, c.typ, c.insns) })
		}
	}
}

// benchRunInsns measures one Program.Run of insns, loaded as a program of
// type typ on engine e, on udpPkt.
func benchRunInsns(b *testing.B, e Engine, typ ebpf.ProgramType, insns asm.Instructions) {
	coll, err := NewRuntime(WithEngine(e)).LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"p": {Name: "p", Type: typ, Instructions: insns, License: "GPL"},
	}, Maps: map[string]*ebpf.MapSpec{}})
	if err != nil {
		b.Fatal(err)
	}
	defer coll.Close()
	p := coll.Programs["p"]
	opts := &RunOptions{Data: udpPkt}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if _, err := p.Run(opts); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, 1)
}
