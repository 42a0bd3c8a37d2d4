package bpfvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/progtype"
)

// loadProgram loads insns as one program of type typ.
func loadProgram(t *testing.T, rt *Runtime, typ ebpf.ProgramType, insns asm.Instructions) *Program {
	t.Helper()
	coll, err := rt.LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"p": {Name: "p", Type: typ, Instructions: insns, License: "GPL"},
	}, Maps: map[string]*ebpf.MapSpec{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { coll.Close() })
	return coll.Programs["p"]
}

// TestUnobservedRuns checks that runs skipping the context and packet
// fill (a program that cannot see them, no output asked for) answer as
// full runs do, and that a full run after them is exact: the buffers are
// clean and filled.
func TestUnobservedRuns(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		rt := NewRuntime(WithEngine(e))
		pass := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()})
		if pass.observes {
			t.Fatalf("%s: r0 = 2 observes its context", e)
		}
		// Writes the packet's first byte and returns the packet length.
		write := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
			asm.Mov.Reg(asm.R0, asm.R3),
			asm.Sub.Reg(asm.R0, asm.R2),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 1),
			asm.JGT.Reg(asm.R4, asm.R3, "out"),
			asm.StoreImm(asm.R2, 0, 0x55, asm.Byte),
			asm.Return().WithSymbol("out"),
		})
		if !write.observes {
			t.Fatalf("%s: a program reading its context does not observe it", e)
		}
		for _, p := range []*Program{pass, write} {
			for i, data := range [][]byte{udpPkt, bytes.Repeat([]byte{1}, 1000), udpPkt[:20], bytes.Repeat([]byte{2}, 4000)} {
				if _, err := p.Run(&RunOptions{Data: data}); err != nil {
					t.Fatalf("%s %s: %v", e, p, err)
				}
				out := make([]byte, 5000)
				ctxOut := make([]byte, progtype.XDPMdSize)
				opts := &RunOptions{Data: data, DataOut: out, ContextOut: ctxOut, Repeat: 1}
				ret, err := p.Run(opts)
				if err != nil {
					t.Fatal(err)
				}
				want := append([]byte(nil), data...)
				linear := min(len(data), 3520) // the rest in fragments
				if p == write {
					want[0] = 0x55
					if ret != uint32(linear) {
						t.Errorf("%s %s input %d: %d, want %d", e, p, i, ret, linear)
					}
				}
				if !bytes.Equal(opts.DataOut, want) {
					t.Errorf("%s %s input %d: data out of %d bytes differs from the %d bytes wanted", e, p, i, len(opts.DataOut), len(want))
				}
				if end := binary.LittleEndian.Uint32(ctxOut[4:]); end != uint32(linear) {
					t.Errorf("%s %s input %d: ctx out data_end %d", e, p, i, end)
				}
			}
			// The same input errors in both modes.
			for _, data := range [][]byte{udpPkt[:13], make([]byte, 80000)} {
				_, errFast := p.Run(&RunOptions{Data: data})
				_, errFull := p.Run(&RunOptions{Data: data, DataOut: make([]byte, 10)})
				if !errors.Is(errFast, ErrInvalidInput) || errFull == nil || errFast.Error() != errFull.Error() {
					t.Errorf("%s %s %d bytes: %v / %v", e, p, len(data), errFast, errFull)
				}
			}
		}
	}
}

// TestRunDuration: Repeat 0 is not timed, Repeat n is.
func TestRunDuration(t *testing.T) {
	rt := NewRuntime()
	p := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()})
	opts := &RunOptions{Data: udpPkt, Duration: 12345}
	if _, err := p.Run(opts); err != nil || opts.Duration != 0 {
		t.Fatalf("repeat 0: %v, duration %v", err, opts.Duration)
	}
	opts.Repeat = 100000
	if _, err := p.Run(opts); err != nil || opts.Duration <= 0 {
		t.Fatalf("repeat %d: %v, duration %v", opts.Repeat, err, opts.Duration)
	}
	// A program calling helpers repeats through runOnce: timed too.
	h := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.FnGetPrandomU32.Call(), asm.Mov.Imm(asm.R0, 2), asm.Return()})
	opts = &RunOptions{Data: udpPkt, Repeat: 100000}
	if _, err := h.Run(opts); err != nil || opts.Duration <= 0 {
		t.Fatalf("helper program: %v, duration %v", err, opts.Duration)
	}
}

// cookieProgram returns bpf_get_attach_cookie (high: its upper half) or,
// with funcIP, bpf_get_func_ip.
func cookieProgram(t *testing.T, rt *Runtime, funcIP, high bool) *Program {
	fn := asm.FnGetAttachCookie
	if funcIP {
		fn = asm.FnGetFuncIp
	}
	insns := asm.Instructions{fn.Call()}
	if high {
		insns = append(insns, asm.RSh.Imm(asm.R0, 32))
	}
	return loadProgram(t, rt, ebpf.Kprobe, append(insns, asm.Return()))
}

func TestAttachCookie(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		rt := NewRuntime(WithEngine(e))
		a, b := cookieProgram(t, rt, false, false), cookieProgram(t, rt, false, false)
		hi := cookieProgram(t, rt, false, true)
		ip := cookieProgram(t, rt, true, false)
		ctx := make([]byte, 168) // pt_regs
		// Outside an attachment both are 0, as in a kernel test run.
		for _, p := range []*Program{a, ip} {
			if ret, err := p.Run(&RunOptions{Context: ctx}); err != nil || ret != 0 {
				t.Fatalf("%s: %s without attachment: %d, %v", e, p, ret, err)
			}
		}
		if ret, err := a.Run(&RunOptions{Context: ctx, AttachCookie: 0xabc}); err != nil || ret != 0xabc {
			t.Fatalf("%s: RunOptions.AttachCookie: %#x, %v", e, ret, err)
		}
		if ret, err := ip.Run(&RunOptions{Context: ctx, FuncIP: 0xffffffff81000010}); err != nil || ret != 0x81000010 {
			t.Fatalf("%s: RunOptions.FuncIP: %#x, %v", e, ret, err)
		}
		h := NewHook("kprobe/do_sys_open", Kprobe)
		h.SetFuncIP(0x1234)
		for i, p := range []*Program{a, b, hi, ip} {
			if err := h.AttachWithCookie(p, []uint64{7, 0x1111, 0x5_0000_0001, 99}[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.AttachWithCookie(a, 8); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("%s: double attach: %v", e, err)
		}
		want := map[*Program]uint32{a: 7, b: 0x1111, hi: 5, ip: 0x1234}
		// Concurrent fires: each attachment sees its own cookie whatever
		// pooled instance runs it.
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out []Verdict
				for i := 0; i < 200; i++ {
					out = h.FireAppend(out[:0], nil, ctx)
					if len(out) != 4 {
						errs <- errors.New("verdict count")
						return
					}
					for _, v := range out {
						if v.Err != nil || v.Retval != want[v.Program] {
							errs <- errors.New(v.Program.String() + ": wrong verdict")
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: %v", e, err)
		}
		if c, ok := h.Cookie(b); !ok || c != 0x1111 {
			t.Fatalf("%s: Cookie(b) = %#x, %v", e, c, ok)
		}
		// A plain Run of an attached program is outside the hook: 0.
		if ret, err := a.Run(&RunOptions{Context: ctx}); err != nil || ret != 0 {
			t.Fatalf("%s: run after fires: %d, %v", e, ret, err)
		}
		h.Detach(a)
		if _, ok := h.Cookie(a); ok || len(h.Programs()) != 3 {
			t.Fatalf("%s: detach", e)
		}
		v := h.Fire(nil, ctx)
		if len(v) != 3 || v[0].Program != b || v[0].Retval != 0x1111 {
			t.Fatalf("%s: after detach: %+v", e, v)
		}
	}
}

// TestHookFireContext: a context that does not encode fails every
// program's verdict; Fire allocates only its result.
func TestHookFireContext(t *testing.T) {
	rt := NewRuntime()
	p := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()})
	h := NewHook("ingress", XDP)
	if err := h.Attach(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil program: %v", err)
	}
	if err := h.Attach(p); err != nil {
		t.Fatal(err)
	}
	if v := h.Fire(udpPkt, map[int]int{}); len(v) != 1 || !errors.Is(v[0].Err, ErrInvalidArgument) {
		t.Fatalf("unencodable context: %+v", v)
	}
	out := make([]Verdict, 0, 1)
	if n := testing.AllocsPerRun(100, func() { out = h.FireAppend(out[:0], udpPkt, nil) }); n != 0 {
		t.Errorf("FireAppend allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { h.Fire(udpPkt, nil) }); n != 1 {
		t.Errorf("Fire allocates %v times, want 1 (the verdicts)", n)
	}
}

// TestHookConcurrentAttach fires a hook while programs attach and detach:
// every fire sees one consistent list (run with -race).
func TestHookConcurrentAttach(t *testing.T) {
	rt := NewRuntime()
	a := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()})
	b := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()})
	h := NewHook("ingress", XDP)
	if err := h.Attach(a); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []Verdict
			for {
				select {
				case <-done:
					return
				default:
				}
				out = h.FireAppend(out[:0], udpPkt, nil)
				if len(out) < 1 || len(out) > 2 || out[0].Program != a || out[0].Retval != 1 || len(out) == 2 && out[1].Retval != 2 {
					t.Errorf("verdicts %+v", out)
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		if err := h.AttachWithCookie(b, uint64(i)); err != nil {
			t.Fatal(err)
		}
		h.Detach(b)
	}
	close(done)
	wg.Wait()
}

// TestRunner: a Runner answers as Run does (outputs, errors, cookies),
// and refuses to run once closed or once its program is.
func TestRunner(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		rt := NewRuntime(WithEngine(e))
		p := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R0, asm.R1, 4, asm.Word),
			asm.Sub.Reg(asm.R0, asm.R2),
			asm.Return(),
		})
		r, err := p.NewRunner()
		if err != nil {
			t.Fatal(err)
		}
		for _, data := range [][]byte{udpPkt, udpPkt[:20], make([]byte, 1000)} {
			want, wantErr := p.Run(&RunOptions{Data: data})
			got, gotErr := r.Run(&RunOptions{Data: data})
			if got != want || wantErr != nil || gotErr != nil {
				t.Fatalf("%s: runner %d (%v), Run %d (%v)", e, got, gotErr, want, wantErr)
			}
			out := &RunOptions{Data: data, DataOut: make([]byte, len(data))}
			if _, err := r.Run(out); err != nil || !bytes.Equal(out.DataOut, data) {
				t.Fatalf("%s: runner data out: %v", e, err)
			}
		}
		if _, err := r.Run(&RunOptions{Data: udpPkt[:5]}); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("%s: runt packet: %v", e, err)
		}
		if n := testing.AllocsPerRun(100, func() { r.Run(&RunOptions{Data: udpPkt}) }); n != 0 {
			t.Errorf("%s: Runner.Run allocates %v times", e, n)
		}
		r.Close()
		r.Close()
		if _, err := r.Run(&RunOptions{Data: udpPkt}); !errors.Is(err, ErrClosed) {
			t.Fatalf("%s: closed runner: %v", e, err)
		}
		r2, err := p.NewRunner()
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
		if _, err := r2.Run(&RunOptions{Data: udpPkt}); !errors.Is(err, ErrClosed) {
			t.Fatalf("%s: runner of a closed program: %v", e, err)
		}
		r2.Close()
		if _, err := p.NewRunner(); !errors.Is(err, ErrClosed) {
			t.Fatalf("%s: runner of a closed program: %v", e, err)
		}
	}
}
