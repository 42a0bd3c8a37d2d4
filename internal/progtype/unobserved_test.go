package progtype

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestObserves(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bool
	}{
		{"mov %r0, 2\nexit", false},
		{"mov %r1, 0\nmov %r0, %r1\nexit", false},              // r1 written first
		{"stdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit", false}, // the stack only
		{"ldxw %r0, [%r1+0]\nexit", true},                      // reads the context
		{"mov %r6, %r1\nmov %r0, 0\nexit", true},               // copies the pointer
		{"ldabsb 0\nexit", true},                               // legacy packet load
		{"mov %r6, 0\nldindb %r6, 0\nexit", true},
		{"call 1\nexit", true}, // a helper may reach the packet
		// A bpf-to-bpf call whose callee reads r1: the caller passes the
		// context on.
		{"call local f\nexit\nf:\nmov %r0, %r1\nexit", true},
		{"call local f\nexit\nf:\nmov %r0, 1\nexit", false},
		// lddw whose second slot would look like a call.
		{"lddw %r0, 0x0000000100000000\nexit", false},
	} {
		if got := Observes(mustAsm(t, c.src)); got != c.want {
			t.Errorf("%q: Observes = %v, want %v", c.src, got, c.want)
		}
	}
}

// samePrepared reports how a Run prepared after other runs (reused)
// differs from a fresh one: the context (but for the pointer slots, real
// addresses) and the whole packet buffer must be equal.
func samePrepared(t *testing.T, reused, fresh *Run) {
	t.Helper()
	rc, fc := reused.Ctx, fresh.Ctx
	if fresh.l != nil {
		rc, fc = rc[:fresh.l.size], fc[:fresh.l.size]
	}
	if !bytes.Equal(rc, fc) {
		t.Fatalf("context %x, fresh %x", rc, fc)
	}
	if (reused.Packet == nil) != (fresh.Packet == nil) {
		t.Fatal("packet on one side only")
	}
	if fresh.Packet != nil && !bytes.Equal(reused.Packet.Buf, fresh.Packet.Buf) {
		t.Fatal("packet buffer differs from a fresh one")
	}
	ro, fo := reused.Finish(), fresh.Finish()
	if !bytes.Equal(ro.DataOut, fo.DataOut) || !bytes.Equal(ro.ContextOut, fo.ContextOut) {
		t.Fatalf("outputs %x %x, fresh %x %x", ro.DataOut, ro.ContextOut, fo.DataOut, fo.ContextOut)
	}
}

// FuzzPrepareUnobserved checks Request.Unobserved: the same input errors
// as a full Prepare, and a full Prepare after unobserved ones (on a run
// whose earlier "program" scribbled over its packet) builds exactly what
// a fresh run builds.
func FuzzPrepareUnobserved(f *testing.F) {
	f.Add(uint8(XDP), make([]byte, 64), []byte(nil), make([]byte, 100))
	f.Add(uint8(XDP), make([]byte, 64), make([]byte, 24), make([]byte, 1000))
	f.Add(uint8(SchedCLS), make([]byte, 60), make([]byte, 192), make([]byte, 14))
	f.Add(uint8(SocketFilter), make([]byte, 14), []byte(nil), make([]byte, 3000))
	f.Add(uint8(Kprobe), []byte(nil), make([]byte, 40), []byte(nil))
	f.Add(uint8(XDP), make([]byte, 8), []byte(nil), make([]byte, 64))
	xdpMeta := make([]byte, 24)
	xdpMeta[0], xdpMeta[4] = 32, 100 // 32 bytes of metadata, 100 in all
	f.Add(uint8(XDP), make([]byte, 100), xdpMeta, make([]byte, 100))
	f.Fuzz(func(t *testing.T, typ uint8, data, ctx, earlier []byte) {
		tt := Type(typ % 40)
		fresh := NewRun()
		errFull := fresh.Prepare(tt, Request{Data: data, Context: ctx})
		reused := NewRun()
		// The earlier run with the context when it takes it (XDP metadata
		// moves the dirty range below the packet), else without.
		errEarlier := reused.Prepare(tt, Request{Data: earlier, Context: ctx})
		if errEarlier != nil {
			errEarlier = reused.Prepare(tt, Request{Data: earlier})
		}
		if errEarlier == nil && reused.Packet != nil {
			p := reused.Packet
			for i := p.Meta; i < p.End; i++ {
				p.Buf[i] = 0xaa // what a program may write
			}
		}
		// Twice: the second is the shortcut for a repeated request.
		for i := 0; i < 2; i++ {
			errLazy := reused.Prepare(tt, Request{Data: data, Context: ctx, Unobserved: true})
			if (errFull == nil) != (errLazy == nil) || errFull != nil && errFull.Error() != errLazy.Error() {
				t.Fatalf("errors differ: full %v, unobserved %v", errFull, errLazy)
			}
		}
		if errFull != nil {
			return
		}
		if reused.Packet != nil && (reused.Packet.Data != fresh.Packet.Data || reused.Packet.End != fresh.Packet.End) {
			t.Fatal("unobserved packet bounds differ")
		}
		if err := reused.Prepare(tt, Request{Data: data, Context: ctx}); err != nil {
			t.Fatal(err)
		}
		samePrepared(t, reused, fresh)
	})
}

// TestPacketBufAfterMetadata: a run with XDP metadata dirties the
// headroom below the packet; the next run without metadata must find it
// zeroed (packetBuf clears only what the new packet does not overwrite).
func TestPacketBufAfterMetadata(t *testing.T) {
	ctx := make([]byte, XDPMdSize)
	ctx[xdpData], ctx[xdpDataEnd] = 32, 100
	r := NewRun()
	if err := r.Prepare(XDP, Request{Data: make([]byte, 100), Context: ctx}); err != nil {
		t.Fatal(err)
	}
	p := r.Packet
	for i := p.Meta; i < p.End; i++ {
		p.Buf[i] = 0xaa
	}
	for _, n := range []int{60, 200} {
		if err := r.Prepare(XDP, Request{Data: make([]byte, n)}); err != nil {
			t.Fatal(err)
		}
		fresh, err := Prepare(XDP, Request{Data: make([]byte, n)})
		if err != nil {
			t.Fatal(err)
		}
		samePrepared(t, r, fresh)
	}
}

func TestEthProtocol(t *testing.T) {
	for _, c := range []struct {
		hdr   string // destination, source, type/length, two more bytes
		proto uint16
		typ   uint32
	}{
		{"ffffffffffff" + "000000000001" + "0800" + "4500", 0x0800, packetBroadcast},
		{"ffffffffff7f" + "000000000001" + "0800" + "4500", 0x0800, packetMulticast},
		{"01005e000001" + "000000000001" + "86dd" + "6000", 0x86dd, packetMulticast},
		{"000000000000" + "000000000001" + "0806" + "0001", 0x0806, packetHost},
		{"020000000000" + "000000000001" + "0800" + "4500", 0x0800, packetOtherhost},
		{"000000000001" + "000000000001" + "0800" + "4500", 0x0800, packetOtherhost},
		{"000000000000" + "000000000000" + "0040" + "ffff", 0x0001, packetHost}, // 802.3 raw
		{"000000000000" + "000000000000" + "0040" + "aaaa", 0x0004, packetHost}, // 802.2 LLC
	} {
		pkt, err := hex.DecodeString(c.hdr)
		if err != nil {
			t.Fatal(err)
		}
		if proto, typ := ethProtocol(pkt); proto != c.proto || typ != c.typ {
			t.Errorf("%s: protocol %#x type %d, want %#x %d", c.hdr, proto, typ, c.proto, c.typ)
		}
	}
}
