package helpers

import (
	"encoding/binary"
	"testing"
)

// ipv4TCP is an Ethernet/IPv4/TCP frame from src:sport to dst:dport.
func ipv4TCP(src, dst [4]byte, sport, dport uint16) *Packet {
	b := make([]byte, 14+20+20)
	binary.BigEndian.PutUint16(b[12:], ethPIP)
	b[14] = 0x45
	b[14+9] = 6
	copy(b[14+12:], src[:])
	copy(b[14+16:], dst[:])
	binary.BigEndian.PutUint16(b[34:], sport)
	binary.BigEndian.PutUint16(b[36:], dport)
	return &Packet{Buf: b, Data: 0, End: len(b), Net: 14, MaxEnd: len(b), Protocol: ethPIP}
}

func TestHashRecalc(t *testing.T) {
	hash := func(seed uint64, p *Packet) uint64 {
		s := NewState(&Host{Seed: seed}, 0)
		s.Packet = p
		h, err := s.getHashRecalc(nil, 0, 0, 0, 0, 0)
		if err != nil || h == 0 || h > 0xffffffff {
			t.Fatalf("hash %#x, %v", h, err)
		}
		return h
	}
	a, b := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	fwd := hash(1, ipv4TCP(a, b, 1000, 80))
	if rev := hash(1, ipv4TCP(b, a, 80, 1000)); rev != fwd {
		t.Errorf("reverse direction hashes to %#x, forward %#x", rev, fwd)
	}
	if other := hash(1, ipv4TCP(a, b, 1001, 80)); other == fwd {
		t.Errorf("another port hashes alike: %#x", other)
	}
	if reseeded := hash(2, ipv4TCP(a, b, 1000, 80)); reseeded == fwd {
		t.Errorf("the seed changes nothing: %#x", reseeded)
	}
	// A truncated header still hashes (on the protocol alone), non-zero.
	p := ipv4TCP(a, b, 1, 2)
	p.End = 20
	hash(1, p)
}

func TestSocketCookie(t *testing.T) {
	s := NewState(&Host{}, 0)
	if c, _ := s.getSocketCookie(nil, 0, 0, 0, 0, 0); c != 0 {
		t.Errorf("cookie %d without an skb", c)
	}
	s.Packet = &Packet{}
	c1, _ := s.getSocketCookie(nil, 0, 0, 0, 0, 0)
	c2, _ := s.getSocketCookie(nil, 0, 0, 0, 0, 0)
	s.Packet = &Packet{}
	c3, _ := s.getSocketCookie(nil, 0, 0, 0, 0, 0)
	if c1 == 0 || c1 != c2 || c3 == c1 {
		t.Errorf("cookies %d %d %d: want one non-zero cookie per run, fresh per run", c1, c2, c3)
	}
}

// FuzzAdjustRoom: any packet and arguments either adjust the packet by
// exactly len_diff bytes, keeping the bytes before the room, or fail with
// an errno and leave it alone; never a panic.
func FuzzAdjustRoom(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 40}, uint16(ethPIP), int32(8), uint32(adjRoomNet), uint64(0))
	f.Add([]byte{0x45, 0, 0, 40}, uint16(ethPIP), int32(-8), uint32(adjRoomNet), uint64(0))
	f.Add([]byte{0x60}, uint16(ethPIPv6), int32(20), uint32(adjRoomMac), uint64(adjRoomEncapL3IPv4|adjRoomEncapL4UDP))
	f.Add([]byte{}, uint16(0x0806), int32(4), uint32(1), uint64(1<<56|adjRoomEncapL2Eth))
	f.Fuzz(func(t *testing.T, payload []byte, proto uint16, diff int32, mode uint32, flags uint64) {
		const head = 64
		buf := make([]byte, head+14+len(payload)+64)
		copy(buf[head+14:], payload)
		binary.BigEndian.PutUint16(buf[head+12:], proto)
		end := head + 14 + len(payload)
		p := &Packet{Buf: buf, Data: head, End: end, Meta: head, Net: head + 14, MaxEnd: len(buf), Protocol: proto}
		before := append([]byte(nil), buf[head:end]...)
		s := NewState(&Host{}, 0)
		s.Packet = p
		r, err := s.skbAdjustRoom(&memEnv{buf: make([]byte, 8)}, 0, uint64(uint32(diff)), uint64(mode), flags, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := p.Buf[p.Data:p.End]
		if int64(r) < 0 {
			if string(got) != string(before) {
				t.Fatalf("failed (%d) but changed the packet", int64(r))
			}
			return
		}
		if len(got) != len(before)+int(diff) {
			t.Fatalf("length %d -> %d for len_diff %d", len(before), len(got), diff)
		}
		if p.Net-p.Data != 14 {
			t.Fatalf("network header moved to offset %d", p.Net-p.Data)
		}
		if string(got[:14]) != string(before[:14]) {
			t.Fatal("MAC header changed")
		}
	})
}

// FuzzVlan: any packet and sequence of pushes and pops keeps the packet
// length in step with the tags moved into and out of it; never a panic.
func FuzzVlan(f *testing.F) {
	f.Add([]byte{0x81, 0x00, 0, 5, 0x08, 0x00}, []byte{0, 1, 1, 0})
	f.Add([]byte{0x88, 0xa8, 0, 3, 0x81, 0x00, 0, 4, 0x86, 0xdd}, []byte{1, 1, 1})
	f.Add([]byte{}, []byte{0, 0, 0, 1, 1, 1})
	f.Fuzz(func(t *testing.T, tail []byte, ops []byte) {
		const head = 2
		buf := make([]byte, head+12+len(tail)+8)
		copy(buf[head+12:], tail)
		end := head + 12 + len(tail)
		proto := uint16(0)
		if len(tail) >= 2 {
			proto = binary.BigEndian.Uint16(tail)
		}
		p := &Packet{Buf: buf, Data: head, End: end, Meta: head, MinData: 0, Net: head + 14, MaxEnd: len(buf), Protocol: proto}
		s := NewState(&Host{}, 0)
		s.Packet = p
		env := &memEnv{buf: make([]byte, 8)}
		for i, op := range ops {
			if i > 16 {
				break
			}
			n := p.End - p.Data
			tagged := p.VlanProto != 0 || p.VlanTCI != 0
			var r uint64
			if op&1 == 0 {
				r, _ = s.skbVlanPush(env, 0, uint64(op)<<8, uint64(op), 0, 0)
				want := n
				if tagged {
					want += vlanHLen
				}
				if r != 0 || p.End-p.Data != want || p.VlanProto == 0 {
					t.Fatalf("push: %d, length %d -> %d, tag %#x", int64(r), n, p.End-p.Data, p.VlanProto)
				}
			} else {
				r, _ = s.skbVlanPop(env, 0, 0, 0, 0, 0)
				if d := n - (p.End - p.Data); d != 0 && d != vlanHLen && d != 2*vlanHLen {
					t.Fatalf("pop: %d, length %d -> %d", int64(r), n, p.End-p.Data)
				}
			}
			if p.Data < 0 || p.End > len(p.Buf) || p.Data > p.End {
				t.Fatalf("packet bounds %d..%d of %d", p.Data, p.End, len(p.Buf))
			}
		}
	})
}
