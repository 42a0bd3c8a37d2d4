package pcapfilter

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The test capture: hand-built packets covering what the filter language
// can tell apart. Each packet's timestamp (seconds) is its index, so a
// filtered capture names the packets it kept.

var (
	testV4   = []string{"10.0.0.1", "10.0.0.2", "192.168.1.10", "1.2.3.4", "10.1.2.3", "172.16.5.4", "224.0.0.1", "255.255.255.255", "0.0.0.0"}
	testV6   = []string{"2001:db8::1", "2001:db8::2", "fe80::1", "::1", "ff02::1", "2001:db8:1::5"}
	testMACs = [][6]byte{
		{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}, {0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01},
		{0x33, 0x33, 0x00, 0x00, 0x00, 0x01},
	}
	testPorts = []uint16{80, 443, 22, 53, 1000, 1500, 2000, 2001, 8080, 65535, 0, 5060, 123}
)

func v4(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
func v6(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }

// l3 is a network-layer packet and its EtherType.
type l3 struct {
	etherType uint16
	data      []byte
}

func tcpSeg(sport, dport uint16, flags byte, opts int, payload int) []byte {
	h := make([]byte, 20+4*opts+payload)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], 0x01020304)
	h[12] = byte(5+opts) << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 512)
	for i := 0; i < 4*opts; i++ {
		h[20+i] = 1 // NOP options
	}
	for i := 0; i < payload; i++ {
		h[20+4*opts+i] = byte(i)
	}
	return h
}

func udpDgram(sport, dport uint16, payload int) []byte {
	h := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+payload))
	return h
}

func sctpPkt(sport, dport uint16) []byte {
	h := make([]byte, 28)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	h[12] = 1 // INIT chunk
	return h
}

func icmpMsg(typ, code byte) []byte { return []byte{typ, code, 0, 0, 0, 1, 0, 1, 'p', 'i', 'n', 'g'} }

func ipv4Pkt(src, dst string, proto byte, payload []byte, optWords int, frag uint16, tos byte) []byte {
	ihl := 5 + optWords
	h := make([]byte, 4*ihl+len(payload))
	h[0] = 0x40 | byte(ihl)
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)))
	binary.BigEndian.PutUint16(h[4:], 0x1234)
	binary.BigEndian.PutUint16(h[6:], frag)
	h[8] = 64
	h[9] = proto
	copy(h[12:], v4(src))
	copy(h[16:], v4(dst))
	for i := 20; i < 4*ihl; i++ {
		h[i] = 1
	}
	copy(h[4*ihl:], payload)
	return h
}

// ipv6Pkt builds an IPv6 packet; ext lists extension headers to insert
// (0 hop-by-hop, 43 routing, 44 fragment, 60 destination options).
func ipv6Pkt(src, dst string, proto byte, payload []byte, ext []byte) []byte {
	var body []byte
	next := proto
	for i := len(ext) - 1; i >= 0; i-- {
		e := make([]byte, 8)
		e[0] = next
		if ext[i] == 44 {
			binary.BigEndian.PutUint16(e[2:], 0) // offset 0, first fragment
		}
		body = append(e, body...)
		next = ext[i]
	}
	body = append(body, payload...)
	h := make([]byte, 40+len(body))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(body)))
	h[6] = next
	h[7] = 64
	copy(h[8:], v6(src))
	copy(h[24:], v6(dst))
	copy(h[40:], body)
	return h
}

func arpPkt(op uint16, smac [6]byte, sip, tip string) []byte {
	h := make([]byte, 28)
	binary.BigEndian.PutUint16(h[0:], 1)
	binary.BigEndian.PutUint16(h[2:], 0x0800)
	h[4], h[5] = 6, 4
	binary.BigEndian.PutUint16(h[6:], op)
	copy(h[8:], smac[:])
	copy(h[14:], v4(sip))
	copy(h[24:], v4(tip))
	return h
}

// networkPackets returns the varied IP/ARP packets carried by every link type.
func networkPackets(r *rand.Rand) []l3 {
	var out []l3
	pick4 := func() string { return testV4[r.IntN(len(testV4))] }
	pick6 := func() string { return testV6[r.IntN(len(testV6))] }
	port := func() uint16 { return testPorts[r.IntN(len(testPorts))] }
	// Every TCP flag combination, over IPv4 and IPv6.
	for f := 0; f < 256; f++ {
		if f%2 == 0 {
			out = append(out, l3{0x0800, ipv4Pkt(pick4(), pick4(), 6, tcpSeg(port(), port(), byte(f), r.IntN(3), r.IntN(20)), 0, 0, 0)})
		} else {
			out = append(out, l3{0x86dd, ipv6Pkt(pick6(), pick6(), 6, tcpSeg(port(), port(), byte(f), r.IntN(3), r.IntN(20)), nil)})
		}
	}
	for i := 0; i < 60; i++ {
		out = append(out,
			l3{0x0800, ipv4Pkt(pick4(), pick4(), 17, udpDgram(port(), port(), r.IntN(40)), r.IntN(3), 0, byte(r.IntN(256)))},
			l3{0x86dd, ipv6Pkt(pick6(), pick6(), 17, udpDgram(port(), port(), r.IntN(40)), nil)},
			l3{0x0800, ipv4Pkt(pick4(), pick4(), 6, tcpSeg(port(), port(), byte(r.IntN(256)), r.IntN(4), 0), r.IntN(4), 0, 0)},
		)
	}
	// ICMP types, ICMPv6 types, IGMP, SCTP, other protocols.
	for _, t := range []byte{0, 3, 4, 5, 8, 11, 13, 14, 17} {
		out = append(out, l3{0x0800, ipv4Pkt(pick4(), pick4(), 1, icmpMsg(t, byte(r.IntN(4))), 0, 0, 0)})
	}
	for _, t := range []byte{1, 2, 3, 128, 129, 133, 134, 135, 136} {
		out = append(out, l3{0x86dd, ipv6Pkt(pick6(), pick6(), 58, icmpMsg(t, 0), nil)})
	}
	out = append(out,
		l3{0x0800, ipv4Pkt("10.0.0.1", "224.0.0.1", 2, []byte{0x11, 0x64, 0, 0, 0, 0, 0, 0}, 1, 0, 0)},
		l3{0x0800, ipv4Pkt("10.0.0.2", "224.0.0.22", 2, []byte{0x22, 0, 0, 0, 0, 0, 0, 1}, 1, 0, 0)},
		l3{0x0800, ipv4Pkt("10.0.0.1", "10.0.0.2", 132, sctpPkt(5060, 80), 0, 0, 0)},
		l3{0x86dd, ipv6Pkt("2001:db8::1", "2001:db8::2", 132, sctpPkt(443, 1000), nil)},
		l3{0x0800, ipv4Pkt("10.0.0.1", "1.2.3.4", 47, []byte{0, 0, 8, 0}, 0, 0, 0)},
		l3{0x0800, ipv4Pkt("10.0.0.1", "1.2.3.4", 50, []byte{0, 0, 0, 1, 0, 0, 0, 1}, 0, 0, 0)},
		l3{0x0800, ipv4Pkt("10.0.0.1", "1.2.3.4", 103, []byte{0x20, 0, 0, 0}, 0, 0, 0)},
		l3{0x86dd, ipv6Pkt("fe80::1", "ff02::1", 103, []byte{0x20, 0, 0, 0}, nil)},
		l3{0x0800, ipv4Pkt("10.0.0.1", "224.0.0.18", 112, []byte{0x21, 1, 100, 1, 0, 1, 0, 0}, 0, 0, 0)},
		l3{0x0800, ipv4Pkt("10.0.0.1", "1.2.3.4", 51, []byte{6, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 0, 0)},
	)
	// IPv4 fragments: first (MF), middle and last (offset != 0), DF.
	for _, frag := range []uint16{0x2000, 0x2000 | 185, 370, 0x4000} {
		out = append(out,
			l3{0x0800, ipv4Pkt(pick4(), pick4(), 6, tcpSeg(80, port(), 0x12, 0, 8), 0, frag, 0)},
			l3{0x0800, ipv4Pkt(pick4(), pick4(), 17, udpDgram(53, port(), 8), 0, frag, 0)},
		)
	}
	// IPv6 extension headers.
	for _, ext := range [][]byte{{44}, {0}, {0, 44}, {43}, {60, 44}, {0, 60, 43, 44, 60}, {51}, {0, 51}, {0, 0, 0, 0, 0, 0, 0}} {
		out = append(out,
			l3{0x86dd, ipv6Pkt(pick6(), pick6(), 6, tcpSeg(port(), 80, 0x02, 0, 0), ext)},
			l3{0x86dd, ipv6Pkt(pick6(), pick6(), 17, udpDgram(53, port(), 4), ext)},
			l3{0x86dd, ipv6Pkt(pick6(), pick6(), 58, icmpMsg(128, 0), ext)},
		)
	}
	// ARP and RARP.
	for i := 0; i < 6; i++ {
		out = append(out, l3{0x0806, arpPkt(uint16(1+i%2), testMACs[i%len(testMACs)], pick4(), pick4())})
	}
	out = append(out, l3{0x8035, arpPkt(3, testMACs[1], "10.0.0.1", "1.2.3.4")}, l3{0x8035, arpPkt(4, testMACs[0], "1.2.3.4", "10.0.0.2")})
	// Truncated IP headers: loads past the end must reject the packet.
	out = append(out,
		l3{0x0800, ipv4Pkt("10.0.0.1", "10.0.0.2", 6, tcpSeg(80, 80, 2, 0, 0), 0, 0, 0)[:30]},
		l3{0x0800, ipv4Pkt("10.0.0.1", "10.0.0.2", 6, nil, 0, 0, 0)[:12]},
		l3{0x86dd, ipv6Pkt("fe80::1", "::1", 17, udpDgram(53, 53, 0), nil)[:44]},
	)
	return out
}

func ethernet(dst, src [6]byte, tags []uint32, etherType uint16, payload []byte) []byte {
	b := append([]byte{}, dst[:]...)
	b = append(b, src[:]...)
	for _, t := range tags { // TPID<<16 | TCI
		b = binary.BigEndian.AppendUint32(b, t)
	}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

func mplsStack(labels []uint32, payload []byte) []byte {
	var b []byte
	for i, l := range labels {
		v := l<<12 | 64
		if i == len(labels)-1 {
			v |= 1 << 8 // bottom of stack
		}
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return append(b, payload...)
}

// linkPackets wraps the network packets in the link type's headers and adds
// link-specific frames (VLAN, QinQ, MPLS, 802.3/LLC for Ethernet).
func linkPackets(lt LinkType, r *rand.Rand) [][]byte {
	nets := networkPackets(r)
	var out [][]byte
	mac := func() [6]byte { return testMACs[r.IntN(len(testMACs))] }
	for i, p := range nets {
		switch lt {
		case LinkTypeEthernet:
			out = append(out, ethernet(mac(), mac(), nil, p.etherType, p.data))
			switch i % 7 {
			case 1:
				out = append(out, ethernet(mac(), mac(), []uint32{0x81000000 | uint32(100+r.IntN(3)*100)}, p.etherType, p.data))
			case 3:
				out = append(out, ethernet(mac(), mac(), []uint32{0x88a80000 | 300, 0x81000000 | 100}, p.etherType, p.data))
			case 4:
				out = append(out, ethernet(mac(), mac(), []uint32{0x91000000 | 200}, p.etherType, p.data))
			case 5:
				if p.etherType == 0x0800 || p.etherType == 0x86dd {
					labels := []uint32{uint32(16 + r.IntN(3))}
					if r.IntN(2) == 0 {
						labels = append(labels, 1000)
					}
					out = append(out, ethernet(mac(), mac(), nil, 0x8847, mplsStack(labels, p.data)))
				}
			case 6:
				if p.etherType == 0x0800 {
					out = append(out, ethernet(mac(), mac(), []uint32{0x81000000 | 100}, 0x8847, mplsStack([]uint32{20}, p.data)))
				}
			case 2:
				// PPPoE session: version/type, code, session id, length,
				// then the PPP protocol (IPv4 0x21, IPv6 0x57).
				proto := map[uint16]uint16{0x0800: 0x21, 0x86dd: 0x57}[p.etherType]
				if proto == 0 {
					proto = p.etherType
				}
				h := []byte{0x11, 0, 0, byte(5 + r.IntN(2)), 0, 0, byte(proto >> 8), byte(proto)}
				binary.BigEndian.PutUint16(h[4:], uint16(len(p.data)+2))
				out = append(out, ethernet(mac(), mac(), nil, 0x8864, append(h, p.data...)))
			}
		case LinkTypeRaw:
			if p.etherType == 0x0800 || p.etherType == 0x86dd {
				out = append(out, p.data)
			}
		case LinkTypeLinuxSLL:
			h := make([]byte, 16)
			binary.BigEndian.PutUint16(h[0:], uint16(i%5))
			binary.BigEndian.PutUint16(h[2:], 1)
			binary.BigEndian.PutUint16(h[4:], 6)
			m := mac()
			copy(h[6:], m[:])
			binary.BigEndian.PutUint16(h[14:], p.etherType)
			out = append(out, append(h, p.data...))
		case LinkTypeLinuxSLL2:
			h := make([]byte, 20)
			binary.BigEndian.PutUint16(h[0:], p.etherType)
			binary.BigEndian.PutUint32(h[4:], 2)
			binary.BigEndian.PutUint16(h[8:], 1)
			h[10] = byte(i % 5)
			h[11] = 6
			m := mac()
			copy(h[12:], m[:])
			out = append(out, append(h, p.data...))
		case LinkTypeNull, LinkTypeLoop:
			var afs []uint32
			switch p.etherType {
			case 0x0800:
				afs = []uint32{2}
			case 0x86dd:
				afs = []uint32{[]uint32{24, 28, 30, 10}[i%4]}
			default:
				continue
			}
			h := make([]byte, 4)
			if lt == LinkTypeNull {
				binary.LittleEndian.PutUint32(h, afs[0])
			} else {
				binary.BigEndian.PutUint32(h, afs[0])
			}
			out = append(out, append(h, p.data...))
		}
	}
	if lt == LinkTypeEthernet {
		// 802.3 frames with LLC headers, a length field instead of a type.
		for _, sap := range []byte{0x06, 0x42, 0xaa, 0xfe, 0xf0, 100} {
			llc := []byte{sap, sap, 3, 0, 0, 0, 0, 0, 0, 0}
			b := ethernet(mac(), mac(), nil, uint16(len(llc)), llc)
			out = append(out, b)
		}
		out = append(out, ethernet(testMACs[2], testMACs[0], nil, 0x9000, make([]byte, 40)))
		out = append(out, ethernet(testMACs[2], testMACs[0], nil, 0x8863, []byte{0x11, 0x09, 0, 0, 0, 0}))
		out = append(out, ethernet(testMACs[3], testMACs[1], nil, 0x88cc, make([]byte, 40)))
		out = append(out, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1}) // runt
	}
	return out
}

// writeCapture writes packets to a pcap file, timestamp seconds = index.
func writeCapture(t testing.TB, path string, lt LinkType, pkts [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkType(lt)); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(p), Length: len(p)}
		if err := w.WritePacket(ci, p); err != nil {
			t.Fatal(err)
		}
	}
}
