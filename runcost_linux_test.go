package bpfvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
)

// sizeCase is a program type (and XDP metadata length) whose accepted
// packet sizes are compared with the kernel's.
type sizeCase struct {
	typ  ebpf.ProgramType
	meta int // XDP: bytes of metadata (xdp_md.data) given in the context
}

func (c sizeCase) String() string {
	if c.meta > 0 {
		return fmt.Sprintf("%s/meta%d", c.typ, c.meta)
	}
	return c.typ.String()
}

// input is the test-run input of n bytes for c.
func (c sizeCase) input(n int) (data, ctx []byte) {
	data = make([]byte, n)
	if c.typ == ebpf.XDP && c.meta > 0 {
		ctx = make([]byte, 24)
		binary.LittleEndian.PutUint32(ctx[0:], uint32(c.meta))
		binary.LittleEndian.PutUint32(ctx[4:], uint32(n))
	}
	return data, ctx
}

// probeSizes are the packet sizes checked around every limit.
func probeSizes(limit int) []int {
	return []int{60, 1500, 3520, 3521, 3712, 3713, 4096, 8192, 65535, 65536, 70000, limit - 1, limit, limit + 1, limit + 8}
}

// TestPacketSizesAgainstKernel finds, for each program type BPF_PROG_TEST_RUN
// takes a packet for, the largest packet the running kernel accepts (by
// bisection: the accepted sizes are one range) and checks that bpfvm
// accepts and refuses exactly the same sizes around it, with
// ErrInvalidInput.
func TestPacketSizesAgainstKernel(t *testing.T) {
	kerneltest.Require(t)
	ret := []isa.Instruction{{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 0, Imm: 0}, {Opcode: isa.OpcodeExit}}
	for _, c := range []sizeCase{
		{typ: ebpf.SocketFilter}, {typ: ebpf.SchedCLS}, {typ: ebpf.SchedACT}, {typ: ebpf.CGroupSKB},
		{typ: ebpf.LWTIn}, {typ: ebpf.LWTOut}, {typ: ebpf.LWTXmit},
		{typ: ebpf.XDP}, {typ: ebpf.XDP, meta: 32}, {typ: ebpf.XDP, meta: 216}, {typ: ebpf.XDP, meta: 220},
	} {
		t.Run(c.String(), func(t *testing.T) {
			kp, err := kerneltest.Load(c.typ, ret)
			if err != nil {
				t.Fatal(err)
			}
			defer kp.Close()
			kernelOK := func(n int) bool {
				data, ctx := c.input(n)
				_, err := kp.Run(kerneltest.RunInput{Data: data, Context: ctx})
				return err == nil
			}
			// The smallest size taken, then the largest by bisection.
			lo := 0
			for ; lo < 512 && !kernelOK(lo); lo++ {
			}
			hi := 1 << 17 // kernelOK(lo), !kernelOK(hi)
			if kernelOK(hi) {
				t.Fatalf("the kernel takes %d bytes", hi)
			}
			min := lo
			if lo == 512 { // nothing taken (invalid metadata): compare a few
				t.Log("the kernel takes no size")
				lo = 4000
			}
			for hi-lo > 1 {
				if mid := (lo + hi) / 2; kernelOK(mid) {
					lo = mid
				} else {
					hi = mid
				}
			}
			if min < 512 {
				t.Logf("the kernel takes %d to %d bytes", min, lo)
			}
			vp := loadProgram(t, NewRuntime(), c.typ, asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()})
			sizes := probeSizes(lo)
			for n := 0; n < min+8; n++ {
				sizes = append(sizes, n)
			}
			for _, n := range sizes {
				data, ctx := c.input(n)
				want := kernelOK(n)
				for _, opts := range []*RunOptions{{Data: data, Context: ctx}, {Data: data, Context: ctx, DataOut: make([]byte, n+64)}} {
					_, err := vp.Run(opts)
					if want && err != nil {
						t.Errorf("%d bytes: the kernel accepts them, bpfvm: %v", n, err)
					}
					if !want && !errors.Is(err, ErrInvalidInput) {
						t.Errorf("%d bytes: the kernel refuses them, bpfvm: %v", n, err)
					}
				}
			}
		})
	}
}

// TestMultiBufferXDPAgainstKernel runs XDP programs using the fragment
// aware helpers (xdp_get_buff_len, xdp_load_bytes, xdp_store_bytes,
// xdp_adjust_tail) on packets larger than the frame, which the kernel's
// test run splits into fragments, and compares return values and output
// packets with the kernel's.
func TestMultiBufferXDPAgainstKernel(t *testing.T) {
	kerneltest.Require(t)
	type prog struct {
		name  string
		insns asm.Instructions
	}
	var progs []prog
	progs = append(progs, prog{"buff_len", asm.Instructions{asm.FnXdpGetBuffLen.Call(), asm.Return()}})
	for _, off := range []int32{0, 3512, 3516, 3520, 4000, 7612, 65527, 65528, 65535} {
		progs = append(progs, prog{fmt.Sprintf("load@%d", off), asm.Instructions{
			asm.Mov.Imm(asm.R2, off),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, 8),
			asm.FnXdpLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, "out"),
			asm.LoadMem(asm.R0, asm.R10, -8, asm.Word),
			asm.LoadMem(asm.R1, asm.R10, -4, asm.Word),
			asm.LSh.Imm(asm.R1, 1),
			asm.Xor.Reg(asm.R0, asm.R1),
			asm.Return().WithSymbol("out"),
		}})
		progs = append(progs, prog{fmt.Sprintf("store@%d", off), asm.Instructions{
			asm.LoadImm(asm.R2, 0x1122334455667788, asm.DWord),
			asm.StoreMem(asm.R10, -8, asm.R2, asm.DWord),
			asm.Mov.Imm(asm.R2, off),
			asm.Mov.Reg(asm.R3, asm.R10),
			asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, 8),
			asm.FnXdpStoreBytes.Call(),
			asm.Return(),
		}})
	}
	for _, d := range []int32{1, 100, 576, 577, 4096, -1, -100, -480, -481, -4000, -5000, -7603, -7604, -73000, -73138, -73139} {
		progs = append(progs, prog{fmt.Sprintf("tail%+d", d), asm.Instructions{
			asm.Mov.Imm(asm.R2, d),
			asm.FnXdpAdjustTail.Call(),
			asm.Return(),
		}})
	}
	sizes := []int{100, 3520, 3521, 4000, 7616, 7617, 73152}
	rts := []*Runtime{NewRuntime(WithEngine(Interpreter)), NewRuntime(WithEngine(JIT))}
	for _, pr := range progs {
		spec := &ebpf.ProgramSpec{Name: "p", Type: ebpf.XDP, Instructions: pr.insns, License: "GPL"}
		kp, err := ebpf.NewProgram(spec)
		if err != nil {
			t.Fatalf("%s: kernel: %v", pr.name, err)
		}
		for _, n := range sizes {
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(i*7 + i>>8)
			}
			ko := &ebpf.RunOptions{Data: data, DataOut: make([]byte, n+8192)}
			kRet, kErr := kp.Run(ko)
			if kErr != nil {
				t.Fatalf("%s on %d bytes: kernel: %v", pr.name, n, kErr)
			}
			if testing.Verbose() && (n == 4000 || n == 100) {
				t.Logf("%s on %d bytes: %d, %d bytes out", pr.name, n, int32(kRet), len(ko.DataOut))
			}
			for _, rt := range rts {
				vp := loadProgram(t, rt, ebpf.XDP, pr.insns)
				vo := &RunOptions{Data: data, DataOut: make([]byte, n+8192)}
				vRet, vErr := vp.Run(vo)
				if vErr != nil {
					t.Fatalf("%s on %d bytes: bpfvm (%s): %v", pr.name, n, vp.Engine(), vErr)
				}
				if kRet != vRet {
					t.Errorf("%s on %d bytes: kernel returns %d, bpfvm (%s) %d", pr.name, n, int32(kRet), vp.Engine(), int32(vRet))
				}
				if kData := ko.DataOut; !bytes.Equal(kData, vo.DataOut) {
					t.Errorf("%s on %d bytes: bpfvm (%s) output of %d bytes, the kernel's %d (first difference at %d)", pr.name, n, vp.Engine(), len(vo.DataOut), len(kData), firstDiff(kData, vo.DataOut))
				}
			}
		}
		kp.Close()
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestAttachHelpersAgainstKernel: the program types that may call
// bpf_get_func_ip and bpf_get_attach_cookie are the kernel's (load
// verdicts of bpfvm's verifier and the kernel's).
func TestAttachHelpersAgainstKernel(t *testing.T) {
	kerneltest.Require(t)
	for _, fn := range []asm.BuiltinFunc{asm.FnGetFuncIp, asm.FnGetAttachCookie} {
		for _, typ := range []ebpf.ProgramType{ebpf.Kprobe, ebpf.TracePoint, ebpf.PerfEvent, ebpf.RawTracepoint, ebpf.XDP, ebpf.SchedCLS, ebpf.SocketFilter, ebpf.CGroupSKB} {
			spec := &ebpf.ProgramSpec{Name: "p", Type: typ, Instructions: asm.Instructions{fn.Call(), asm.Return()}, License: "GPL"}
			kp, kErr := ebpf.NewProgram(spec)
			if kErr == nil {
				kp.Close()
			}
			coll, vErr := NewRuntime().LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"p": spec}, Maps: map[string]*ebpf.MapSpec{}})
			if vErr == nil {
				coll.Close()
			}
			if (kErr == nil) != (vErr == nil) {
				t.Errorf("%s from %s: kernel %v, bpfvm %v", fn, typ, kErr, vErr)
			}
		}
	}
}

// TestAttachCookieTestRunAgainstKernel: a test run is outside any
// attachment: the kernel's raw_tp test run answers 0 for the cookie, and
// so does Program.Run without RunOptions.AttachCookie.
func TestAttachCookieTestRunAgainstKernel(t *testing.T) {
	kerneltest.Require(t)
	insns := asm.Instructions{asm.FnGetAttachCookie.Call(), asm.Return()}
	kp, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, Instructions: insns, License: "GPL"})
	if err != nil {
		t.Fatal(err)
	}
	defer kp.Close()
	ctx := make([]byte, 16)
	kRet, err := kp.Run(&ebpf.RunOptions{Context: ctx}) // raw_tp takes no ctx_out
	if err != nil {
		t.Fatal(err)
	}
	vp := loadProgram(t, NewRuntime(), ebpf.RawTracepoint, insns)
	ret, err := vp.Run(&RunOptions{Context: ctx})
	if err != nil || ret != kRet {
		t.Fatalf("bpfvm %d (%v), kernel %d", ret, err, kRet)
	}
	if ret, err := vp.Run(&RunOptions{Context: ctx, AttachCookie: 42}); err != nil || ret != 42 {
		t.Fatalf("with a cookie: %d (%v)", ret, err)
	}
}
