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
