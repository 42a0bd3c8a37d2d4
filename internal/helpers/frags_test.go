package helpers

import (
	"bytes"
	"testing"
)

// fragPacket is a multi-buffer XDP packet: linear bytes in a frame, the
// rest in fragments; byte i of the packet is byte(i).
func fragPacket(linear, frags int) *Packet {
	buf := make([]byte, 256+linear+320)
	p := &Packet{Buf: buf, Meta: 256, Data: 256, End: 256 + linear, MinData: 40, MaxEnd: len(buf) - 320, XDP: true}
	for i := 0; i < linear; i++ {
		buf[256+i] = byte(i)
	}
	p.Frags = make([]byte, frags)
	for i := range p.Frags {
		p.Frags[i] = byte(linear + i)
	}
	return p
}

func TestXDPFragments(t *testing.T) {
	s := NewState(&Host{}, 0)
	s.Packet = fragPacket(100, 5000)
	if r, _ := s.xdpGetBuffLen(nil, 0, 0, 0, 0, 0); r != 5100 {
		t.Fatalf("buff len %d", r)
	}
	// load/store across the linear part and the fragments.
	mem := &memEnv{buf: make([]byte, 16)}
	if r, err := s.xdpLoadBytes(mem, 0, 96, mem.addr(), 8, 0); r != 0 || err != nil {
		t.Fatalf("load: %d, %v", int64(r), err)
	}
	if !bytes.Equal(mem.buf[:8], []byte{96, 97, 98, 99, 100, 101, 102, 103}) {
		t.Fatalf("loaded %v", mem.buf[:8])
	}
	copy(mem.buf, "ABCDEFGH")
	if r, _ := s.xdpStoreBytes(mem, 0, 98, mem.addr(), 8, 0); r != 0 {
		t.Fatalf("store: %d", int64(r))
	}
	if p := s.Packet; string(p.Buf[p.End-2:p.End]) != "AB" || string(p.Frags[:6]) != "CDEFGH" {
		t.Fatalf("stored %q + %q", p.Buf[p.End-2:p.End], p.Frags[:6])
	}
	if r, _ := s.xdpLoadBytes(mem, 0, 5093, mem.addr(), 8, 0); int64(r) != -22 {
		t.Fatalf("load past the end: %d", int64(r))
	}
	// Growth only into the last fragment's page (5000 = 4096 + 904).
	if r, _ := s.xdpAdjustTail(nil, 0, uint64(4096-904+1), 0, 0, 0); int64(r) != -22 {
		t.Fatalf("grow past the page: %d", int64(r))
	}
	s.Packet.Frags[len(s.Packet.Frags)-1] = 0xee
	s.Packet.Frags = s.Packet.Frags[:4999] // reused storage holds 0xee
	if r, _ := s.xdpAdjustTail(nil, 0, 2, 0, 0, 0); r != 0 || len(s.Packet.Frags) != 5001 || s.Packet.Frags[4999] != 0 {
		t.Fatalf("grow: %d, %d fragment bytes, new byte %#x", int64(r), len(s.Packet.Frags), s.Packet.Frags[4999])
	}
	// Shrinking frees fragment bytes, then the linear part.
	if r, _ := s.xdpAdjustTail(nil, 0, uint64(neg(5001+100-13)), 0, 0, 0); int64(r) != -22 {
		t.Fatalf("shrink below an Ethernet header: %d", int64(r))
	}
	if r, _ := s.xdpAdjustTail(nil, 0, uint64(neg(5001+10)), 0, 0, 0); r != 0 || len(s.Packet.Frags) != 0 || s.Packet.End-s.Packet.Data != 90 {
		t.Fatalf("shrink: %d, %d fragment bytes, linear %d", int64(r), len(s.Packet.Frags), s.Packet.End-s.Packet.Data)
	}
	// Linear again: the frame's tailroom rules.
	if r, _ := s.xdpAdjustTail(nil, 0, 10, 0, 0, 0); r != 0 || s.Packet.End-s.Packet.Data != 100 {
		t.Fatalf("linear grow: %d", int64(r))
	}
}

func neg(n int) int64 { return -int64(n) }

// FuzzXDPFragments drives the fragment-aware XDP helpers with a sequence
// of operations (each 4 bytes of ops: kind, offset, length/delta) and
// checks them against a flat model of the packet: the packet's bytes, in
// order, whatever their split between the frame and the fragments.
func FuzzXDPFragments(f *testing.F) {
	f.Add(uint16(100), uint32(5000), []byte{0, 90, 20, 0, 1, 95, 10, 0, 2, 1, 0, 0, 3, 200, 0, 0})
	f.Add(uint16(3520), uint32(69632), []byte{2, 0, 255, 1, 3, 0, 0, 0, 2, 0, 0, 0})
	f.Add(uint16(60), uint32(1), []byte{3, 1, 0, 0, 3, 10, 0, 0, 2, 0, 5, 0})
	f.Fuzz(func(t *testing.T, linear uint16, frags uint32, ops []byte) {
		lin, fr := 14+int(linear)%3507, int(frags)%(17*FragSize+1)
		s := NewState(&Host{}, 0)
		s.Packet = fragPacket(lin, fr)
		model := append(append([]byte(nil), s.Packet.Bytes()...), s.Packet.Frags...)
		mem := &memEnv{buf: make([]byte, 256)}
		for ; len(ops) >= 4; ops = ops[4:] {
			kind, off, n := ops[0]%4, int(ops[1])<<5|int(ops[3]), int(ops[2])
			p := s.Packet
			switch kind {
			case 0, 1: // load, store n bytes at off
				ok := off+n <= len(model)
				var r uint64
				if kind == 0 {
					r, _ = s.xdpLoadBytes(mem, 0, uint64(off), mem.addr(), uint64(n), 0)
					if ok && !bytes.Equal(mem.buf[:n], model[off:off+n]) {
						t.Fatalf("load %d@%d: %x, want %x", n, off, mem.buf[:n], model[off:off+n])
					}
				} else {
					for i := range mem.buf[:n] {
						mem.buf[i] = byte(off + i*3)
					}
					r, _ = s.xdpStoreBytes(mem, 0, uint64(off), mem.addr(), uint64(n), 0)
					if ok {
						copy(model[off:], mem.buf[:n])
					}
				}
				if (r == 0) != ok {
					t.Fatalf("op %d %d@%d of %d bytes: %d", kind, n, off, len(model), int64(r))
				}
			case 2: // get_buff_len
				if r, _ := s.xdpGetBuffLen(nil, 0, 0, 0, 0, 0); r != uint64(len(model)) {
					t.Fatalf("buff len %d, model %d", r, len(model))
				}
			case 3: // adjust_tail by off (grow) or -off (shrink) bytes
				delta := off
				if n&1 != 0 {
					delta = -off
				}
				before := len(model)
				r, _ := s.xdpAdjustTail(nil, 0, uint64(int64(delta)), 0, 0, 0)
				if r == 0 {
					if delta > 0 {
						model = append(model, make([]byte, delta)...)
					} else {
						model = model[:before+delta]
					}
				}
				if p.Len() != len(model) || p.Len() < 14 || p.End > p.MaxEnd {
					t.Fatalf("adjust_tail %+d: %d bytes (%d linear), model %d", delta, p.Len(), p.End-p.Data, len(model))
				}
			}
		}
		got := append(append([]byte(nil), s.Packet.Bytes()...), s.Packet.Frags...)
		if !bytes.Equal(got, model) {
			t.Fatal("packet differs from the model")
		}
	})
}
