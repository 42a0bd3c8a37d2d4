package bpfvm

import "encoding/binary"

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// packet builds an Ethernet/IPv4/UDP or TCP frame.
func packet(dstMAC byte, proto uint8, src, dst [4]byte, payload int) []byte {
	p := make([]byte, 14+20+8+payload)
	p[0] = dstMAC
	p[6], p[11] = 0x02, 0x07
	binary.BigEndian.PutUint16(p[12:], 0x0800)
	ip := p[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+payload))
	ip[8], ip[9] = 64, proto
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	for i := range payload {
		p[42+i] = byte(i * 7)
	}
	return p
}

var (
	udpPkt   = packet(0, 17, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, 16)
	tcpPkt   = packet(0, 6, [4]byte{192, 168, 1, 1}, [4]byte{10, 0, 0, 2}, 30)
	bcastPkt = func() []byte {
		p := packet(0xff, 17, [4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 4)
		copy(p, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		return p
	}()
	otherPkt = packet(0x02, 6, [4]byte{9, 9, 9, 9}, [4]byte{5, 6, 7, 8}, 64)
	arpPkt   = func() []byte { p := make([]byte, 42); binary.BigEndian.PutUint16(p[12:], 0x0806); return p }()
)

func skbCtx(mark, priority uint32, cb0 uint32) []byte {
	c := make([]byte, 192)
	binary.LittleEndian.PutUint32(c[8:], mark)
	binary.LittleEndian.PutUint32(c[32:], priority)
	binary.LittleEndian.PutUint32(c[48:], cb0)
	return c
}
