package progtype

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

func mustAsm(t *testing.T, src string) []isa.Instruction {
	t.Helper()
	insns, err := asm.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	return insns
}

func TestFindContextAccesses(t *testing.T) {
	// ctx copied to r6, spilled to the stack and reloaded, offset by an
	// add, passed to a subprogram; plus a non-context load at the same
	// offset that must not be reported.
	src := `
	mov %r6, %r1
	stxdw [%r10-8], %r1
	ldxw %r2, [%r6+76]
	ldxdw %r7, [%r10-8]
	add %r7, 4
	ldxw %r3, [%r7+76]
	mov %r8, %r10
	ldxw %r4, [%r8-8]
	mov %r1, %r6
	call local sub
	mov %r0, 0
	exit
sub:
	ldxw %r0, [%r1+80]
	stw [%r1+8], 1
	exit`
	got := FindContextAccesses(mustAsm(t, src))
	want := []Access{
		{Index: 2, Off: 76, Size: 4},
		{Index: 5, Off: 80, Size: 4},
		{Index: 12, Off: 80, Size: 4},
		{Index: 13, Off: 8, Size: 4, Store: true},
	}
	if len(got) != len(want) {
		t.Fatalf("accesses %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("access %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestFindContextAccessesJoin(t *testing.T) {
	// On one path r2 is the context, on the other a stack pointer: after
	// the join it is unknown and its load is not a context access.
	src := `
	mov %r2, %r1
	jeq %r1, 0, other
	ja join
other:
	mov %r2, %r10
	add %r2, -8
join:
	ldxw %r0, [%r2+0]
	exit`
	if got := FindContextAccesses(mustAsm(t, src)); len(got) != 0 {
		t.Fatalf("accesses %+v, want none", got)
	}
}

func TestRewrite(t *testing.T) {
	insns := mustAsm(t, `
	ldxw %r2, [%r1+76]
	ldxw %r3, [%r1+80]
	ldxw %r4, [%r1+0]
	mov %r0, 0
	exit`)
	out, err := Rewrite(SchedCLS, insns)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Opcode != isa.ClassLDX|isa.ModeMEM|isa.SizeDW || out[0].Offset != SkBuffSize || out[1].Offset != SkBuffSize+8 {
		t.Errorf("pointer loads not rewritten: %v %v", out[0], out[1])
	}
	if out[2] != insns[2] {
		t.Errorf("plain field load changed: %v", out[2])
	}
	if insns[0].Offset != 76 {
		t.Error("Rewrite modified its input")
	}
	for _, bad := range []string{
		"ldxh %r2, [%r1+76]\nexit",   // narrow pointer read
		"stw [%r1+76], 0\nexit",      // pointer write
		"ldxw %r2, [%r1+192]\nexit",  // beyond __sk_buff
		"ldxw %r2, [%r1+2]\nexit",    // misaligned
		"ldxdw %r2, [%r1+148]\nexit", // half of flow_keys
	} {
		if _, err := Rewrite(SchedCLS, mustAsm(t, bad)); !errors.Is(err, ErrContextAccess) {
			t.Errorf("%q: %v, want a context access error", bad, err)
		}
	}
	if _, err := Rewrite(Type(999), insns); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestPrepareSKB(t *testing.T) {
	pkt := make([]byte, 60)
	copy(pkt, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	pkt[12], pkt[13] = 0x86, 0xdd
	r, err := Prepare(SocketFilter, Request{Data: pkt})
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if l := le.Uint32(r.Ctx[skbLen:]); l != 46 {
		t.Errorf("socket filter len %d, want 46 (the Ethernet header is pulled)", l)
	}
	if pt := le.Uint32(r.Ctx[skbPktType:]); pt != packetBroadcast {
		t.Errorf("pkt_type %d, want broadcast", pt)
	}
	if p := le.Uint32(r.Ctx[skbProtocol:]); p != 0xdd86 {
		t.Errorf("protocol %#x, want 0xdd86 (__be16 0x86dd)", p)
	}
	res := r.Finish()
	if len(res.DataOut) != 60 || res.DataOut[0] != 0 || res.ContextOut != nil {
		t.Errorf("socket filter output: %x / %x", res.DataOut, res.ContextOut)
	}
	r, err = Prepare(SchedCLS, Request{Data: pkt, Context: make([]byte, SkBuffSize)})
	if err != nil {
		t.Fatal(err)
	}
	if l := le.Uint32(r.Ctx[skbLen:]); l != 60 {
		t.Errorf("tc len %d, want 60", l)
	}
	if d, e := le.Uint64(r.Ctx[SkBuffSize:]), le.Uint64(r.Ctx[SkBuffSize+8:]); e-d != 60 {
		t.Errorf("data_end - data = %d", e-d)
	}
	bad := make([]byte, SkBuffSize)
	bad[skbLen] = 1
	if _, err := Prepare(SchedCLS, Request{Data: pkt, Context: bad}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("__sk_buff with len set: %v", err)
	}
	if _, err := Prepare(SchedCLS, Request{Data: pkt[:13]}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("13-byte packet: %v", err)
	}
}

func TestPrepareXDP(t *testing.T) {
	pkt := make([]byte, 64)
	ctx := make([]byte, XDPMdSize)
	binary.LittleEndian.PutUint32(ctx[xdpData:], 8) // 8 bytes of metadata
	binary.LittleEndian.PutUint32(ctx[xdpDataEnd:], 64)
	r, err := Prepare(XDP, Request{Data: pkt, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Packet
	if p.Data-p.Meta != 8 || p.End-p.Data != 56 || p.Meta != xdpHeadroom-8 {
		t.Errorf("meta %d data %d end %d", p.Meta, p.Data, p.End)
	}
	res := r.Finish()
	if len(res.DataOut) != 64 || binary.LittleEndian.Uint32(res.ContextOut[xdpData:]) != 8 {
		t.Errorf("outputs %x / %x", res.DataOut, res.ContextOut)
	}
	binary.LittleEndian.PutUint32(ctx[xdpData:], 6) // not a multiple of 4
	if _, err := Prepare(XDP, Request{Data: pkt, Context: ctx}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("misaligned metadata: %v", err)
	}
	// Beyond the frame: fragments (the kernel's multi-buffer test run),
	// at most 17 pages of them.
	big := make([]byte, 4000)
	for i := range big {
		big[i] = byte(i)
	}
	r, err = Prepare(XDP, Request{Data: big})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Packet; p.End-p.Data != 3520 || len(p.Frags) != 480 || p.Len() != 4000 {
		t.Errorf("multi-buffer packet: linear %d, fragments %d", p.End-p.Data, len(p.Frags))
	}
	if res := r.Finish(); !bytes.Equal(res.DataOut, big) {
		t.Error("multi-buffer data out differs from the input")
	}
	if _, err := Prepare(XDP, Request{Data: make([]byte, 3520+17*4096)}); err != nil {
		t.Errorf("largest multi-buffer packet: %v", err)
	}
	if _, err := Prepare(XDP, Request{Data: make([]byte, 3520+17*4096+1)}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("more than 17 fragments: %v", err)
	}
}

// TestRewriteInvalid: an invalid program (here a register above r10,
// which FindContextAccesses cannot track) is refused with Validate's
// error, not a panic.
func TestRewriteInvalid(t *testing.T) {
	for _, insns := range [][]isa.Instruction{
		{{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Dst: 11, Src: 1}, {Opcode: isa.OpcodeExit}},
		{{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Dst: 0, Src: 1}}, // falls off the end
	} {
		_, err := Rewrite(XDP, insns)
		var ie *isa.InstructionError
		if !errors.As(err, &ie) || errors.Is(err, ErrContextAccess) {
			t.Errorf("%v: %v", insns, err)
		}
	}
}
