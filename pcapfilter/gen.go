package pcapfilter

import (
	"encoding/binary"
	"net/netip"

	"github.com/bpfvm/bpfvm/cbpf"
)

// Code generation follows libpcap's gencode.c semantics: each primitive
// becomes a boolean combination of tests, and each test is a short sequence
// of statements that leaves a value in A, then one conditional jump on it.
// Tests are self-contained (they never rely on A or X from an earlier test),
// which is what lets the optimizer move edges around freely.

// bexpr is a boolean expression over packet tests.
type bexpr interface{}

type (
	bAnd   struct{ l, r bexpr }
	bOr    struct{ l, r bexpr }
	bNot   struct{ x bexpr }
	bConst bool
	// bAbort ends the run with 0 whatever the enclosing negations, as a
	// load past the end of the packet does.
	bAbort struct{}
	// bTest runs stmts, then jumps on A op k (or A op X with srcX).
	bTest struct {
		stmts []cbpf.Instruction
		op    uint16 // cbpf.JmpJEQ, JmpJGT, JmpJGE or JmpJSET
		srcX  bool
		k     uint32
	}
)

func and(l, r bexpr) bexpr { return &bAnd{l, r} }
func or(l, r bexpr) bexpr  { return &bOr{l, r} }
func not(x bexpr) bexpr    { return &bNot{x} }

// Statement constructors.
func ldAbs(size uint16, k uint32) cbpf.Instruction {
	return cbpf.Instruction{Op: cbpf.ClassLD | size | cbpf.ModeABS, K: k}
}
func ldInd(size uint16, k uint32) cbpf.Instruction {
	return cbpf.Instruction{Op: cbpf.ClassLD | size | cbpf.ModeIND, K: k}
}
func ldImm(k uint32) cbpf.Instruction {
	return cbpf.Instruction{Op: cbpf.ClassLD | cbpf.ModeIMM, K: k}
}
func ldLen() cbpf.Instruction { return cbpf.Instruction{Op: cbpf.ClassLD | cbpf.SizeW | cbpf.ModeLEN} }
func ldMem(k uint32) cbpf.Instruction {
	return cbpf.Instruction{Op: cbpf.ClassLD | cbpf.ModeMEM, K: k}
}
func ldxMem(k uint32) cbpf.Instruction {
	return cbpf.Instruction{Op: cbpf.ClassLDX | cbpf.ModeMEM, K: k}
}
func ldxMSH(k uint32) cbpf.Instruction {
	return cbpf.Instruction{Op: cbpf.ClassLDX | cbpf.SizeB | cbpf.ModeMSH, K: k}
}
func st(k uint32) cbpf.Instruction { return cbpf.Instruction{Op: cbpf.ClassST, K: k} }
func aluK(op uint16, k uint32) cbpf.Instruction {
	return cbpf.Instruction{Op: cbpf.ClassALU | op | cbpf.SrcK, K: k}
}
func aluX(op uint16) cbpf.Instruction {
	return cbpf.Instruction{Op: cbpf.ClassALU | op | cbpf.SrcX}
}
func tax() cbpf.Instruction { return cbpf.Instruction{Op: cbpf.ClassMISC | cbpf.MiscTAX} }

func sizeOf(n int) uint16 {
	switch n {
	case 4:
		return cbpf.SizeW
	case 2:
		return cbpf.SizeH
	}
	return cbpf.SizeB
}

const (
	etherTypeIP   = 0x0800
	etherTypeARP  = 0x0806
	etherTypeRARP = 0x8035
	etherTypeIPv6 = 0x86dd
	etherTypeMPLS = 0x8847
	etherMTU      = 1500
	ipprotoTCP    = 6
	ipprotoUDP    = 17
	ipprotoSCTP   = 132
	ipprotoFrag   = 44
	protoUndef    = 1 << 16 // port on TCP, UDP and SCTP
)

// gen holds the link-layer layout, which `vlan` and `mpls` change for the
// rest of the expression, in source order.
type gen struct {
	lt         LinkType
	opts       Options
	offLinkHdr uint32
	offType    int64 // -1: the link type has no protocol field
	offPL      uint32
	offNL      uint32
	vlanDepth  int
	mplsDepth  int
	scratch    uint32
}

func newGen(lt LinkType, opts Options) (*gen, error) {
	g := &gen{lt: lt, opts: opts}
	switch lt {
	case LinkTypeEthernet:
		g.offType, g.offPL = 12, 14
	case LinkTypeRaw:
		g.offType, g.offPL = -1, 0
	case LinkTypeNull, LinkTypeLoop:
		g.offType, g.offPL = 0, 4
	case LinkTypeLinuxSLL:
		g.offType, g.offPL = 14, 16
	case LinkTypeLinuxSLL2:
		g.offType, g.offPL = 0, 20
	default:
		return nil, errorf(-1, "unsupported link type %d", uint32(lt))
	}
	return g, nil
}

func (g *gen) nl() uint32 { return g.offPL + g.offNL }

func cmp(off uint32, size int, v uint32) bexpr {
	return &bTest{stmts: []cbpf.Instruction{ldAbs(sizeOf(size), off)}, op: cbpf.JmpJEQ, k: v}
}

func cmpOp(off uint32, size int, op uint16, v uint32) bexpr {
	return &bTest{stmts: []cbpf.Instruction{ldAbs(sizeOf(size), off)}, op: op, k: v}
}

// mcmp tests (P[off:size] & mask) == v.
func mcmp(off uint32, size int, v, mask uint32) bexpr {
	full := uint32(0xffffffff)
	if size == 2 {
		full = 0xffff
	} else if size == 1 {
		full = 0xff
	}
	if mask&full == full {
		return cmp(off, size, v)
	}
	return &bTest{stmts: []cbpf.Instruction{ldAbs(sizeOf(size), off), aluK(cbpf.AluAND, mask)}, op: cbpf.JmpJEQ, k: v}
}

// jset tests P[off:size] & mask != 0.
func jset(off uint32, size int, mask uint32) bexpr {
	return &bTest{stmts: []cbpf.Instruction{ldAbs(sizeOf(size), off)}, op: cbpf.JmpJSET, k: mask}
}

// linktype tests the link-layer protocol (an EtherType value).
func (g *gen) linktype(proto uint32) (bexpr, error) {
	if g.mplsDepth > 0 {
		// After `mpls` the payload type is guessed from the IP version
		// nibble, with the previous label at the bottom of the stack.
		var v uint32
		switch proto {
		case etherTypeIP:
			v = 0x40
		case etherTypeIPv6:
			v = 0x60
		default:
			return nil, errorf(-1, "unsupported protocol over mpls")
		}
		return and(mcmp(g.nl()-2, 1, 1, 1), mcmp(g.nl(), 1, v, 0xf0)), nil
	}
	switch g.lt {
	case LinkTypeEthernet:
		t := uint32(g.offType)
		switch {
		case proto == 0x809b || proto == 0x80f3 || proto == 0xe0:
			return nil, errorf(-1, "AppleTalk and IPX protocol tests are not supported by this compiler")
		case proto == 0x06 || proto == 0xfe || proto == 0xf0:
			// 802.2 LLC with DSAP and SSAP both equal to the SAP.
			return and(not(cmpOp(t, 2, cbpf.JmpJGT, etherMTU)), cmp(t+2, 2, proto<<8|proto)), nil
		case proto <= etherMTU:
			return and(not(cmpOp(t, 2, cbpf.JmpJGT, etherMTU)), cmp(t+2, 1, proto)), nil
		}
		return cmp(t, 2, proto), nil
	case LinkTypeLinuxSLL:
		t := uint32(g.offType)
		switch {
		case proto == 0x809b || proto == 0x80f3 || proto == 0xe0:
			return nil, errorf(-1, "AppleTalk and IPX protocol tests are not supported by this compiler")
		case proto == 0x06 || proto == 0xfe || proto == 0xf0:
			return and(cmp(t, 2, 4), cmp(g.offPL, 2, proto<<8|proto)), nil
		case proto <= etherMTU:
			return and(cmp(t, 2, 4), cmp(g.offPL, 1, proto)), nil
		}
		return cmp(t, 2, proto), nil
	case LinkTypeLinuxSLL2:
		return cmp(uint32(g.offType), 2, proto), nil
	case linkTypePPP:
		switch proto {
		case etherTypeIP:
			proto = 0x0021
		case etherTypeIPv6:
			proto = 0x0057
		}
		return cmp(uint32(g.offType), 2, proto), nil
	case LinkTypeRaw:
		switch proto {
		case etherTypeIP:
			return mcmp(g.offPL, 1, 0x40, 0xf0), nil
		case etherTypeIPv6:
			return mcmp(g.offPL, 1, 0x60, 0xf0), nil
		}
		return bConst(false), nil
	case LinkTypeNull, LinkTypeLoop:
		var afs []uint32
		switch proto {
		case etherTypeIP:
			afs = []uint32{2}
		case etherTypeIPv6:
			// The BSDs disagree on AF_INET6; libpcap accepts all three.
			afs = []uint32{30, 24, 28}
		default:
			return bConst(false), nil
		}
		var b bexpr
		for _, af := range afs {
			v := af
			if g.lt == LinkTypeNull && !g.opts.NullBigEndian {
				// DLT_NULL stores the family in the capturing host's order.
				v = af<<24 | af>>24&0xff | af<<8&0xff0000 | af>>8&0xff00
			}
			t := cmp(uint32(g.offType), 4, v)
			if b == nil {
				b = t
			} else {
				b = or(b, t)
			}
		}
		return b, nil
	}
	return nil, errorf(-1, "unsupported link type")
}

// ipfrag is true for the first or only fragment of an IPv4 datagram.
func (g *gen) ipfrag() bexpr { return not(jset(g.nl()+6, 2, 0x1fff)) }

// proto tests the protocol carried by IPv4 (Q_IP), IPv6 (Q_IPV6, also
// behind one fragment header) or either (kwNone).
func (g *gen) proto(v uint32, which keyword) (bexpr, error) {
	switch which {
	case kwNone:
		b0, err := g.proto(v, kwIP)
		if err != nil {
			return nil, err
		}
		b1, err := g.proto(v, kwIP6)
		if err != nil {
			return nil, err
		}
		return or(b0, b1), nil
	case kwIP:
		lt, err := g.linktype(etherTypeIP)
		if err != nil {
			return nil, err
		}
		return and(lt, cmp(g.nl()+9, 1, v)), nil
	case kwIP6:
		lt, err := g.linktype(etherTypeIPv6)
		if err != nil {
			return nil, err
		}
		frag := and(cmp(g.nl()+6, 1, ipprotoFrag), cmp(g.nl()+40, 1, v))
		return and(lt, or(cmp(g.nl()+6, 1, v), frag)), nil
	}
	return nil, errorf(-1, "bad protocol qualifier")
}

// protoAbbrev is a protocol name used alone: `tcp`, `ip6`, `icmp`.
func (g *gen) protoAbbrev(k keyword) (bexpr, error) {
	switch k {
	case kwIP:
		return g.linktype(etherTypeIP)
	case kwIP6:
		return g.linktype(etherTypeIPv6)
	case kwArp:
		return g.linktype(etherTypeARP)
	case kwRarp:
		return g.linktype(etherTypeRARP)
	case kwTCP:
		return g.proto(ipprotoTCP, kwNone)
	case kwUDP:
		return g.proto(ipprotoUDP, kwNone)
	case kwSctp:
		return g.proto(ipprotoSCTP, kwNone)
	case kwICMP:
		return g.proto(1, kwIP)
	case kwIGMP:
		return g.proto(2, kwIP)
	case kwIGRP:
		return g.proto(9, kwIP)
	case kwPIM:
		return g.proto(103, kwNone)
	case kwVRRP, kwCARP:
		return g.proto(112, kwIP)
	case kwICMP6:
		return g.proto(58, kwIP6)
	case kwAH:
		return g.proto(51, kwNone)
	case kwESP:
		return g.proto(50, kwNone)
	case kwLink:
		return nil, errorf(-1, "link layer applied in wrong context")
	}
	return nil, errorf(-1, "unknown protocol")
}

var protoNames = map[keyword]string{
	kwLink: "link", kwIP: "ip", kwArp: "arp", kwRarp: "rarp", kwSctp: "sctp", kwTCP: "tcp",
	kwUDP: "udp", kwICMP: "icmp", kwIGMP: "igmp", kwIGRP: "igrp", kwPIM: "pim",
	kwVRRP: "vrrp", kwCARP: "carp", kwIP6: "ip6", kwICMP6: "icmp6", kwAH: "ah", kwESP: "esp",
}

// hostop tests a 32-bit address at src or dst offset (from the network header).
func (g *gen) hostop(addr, mask uint32, dir int, proto uint32, src, dst uint32) (bexpr, error) {
	var b bexpr
	switch dir {
	case dirSrc:
		b = g.maskedWord(g.nl()+src, addr, mask)
	case dirDst:
		b = g.maskedWord(g.nl()+dst, addr, mask)
	case dirAnd:
		b = and(g.maskedWord(g.nl()+src, addr, mask), g.maskedWord(g.nl()+dst, addr, mask))
	default:
		b = or(g.maskedWord(g.nl()+src, addr, mask), g.maskedWord(g.nl()+dst, addr, mask))
	}
	lt, err := g.linktype(proto)
	if err != nil {
		return nil, err
	}
	return and(lt, b), nil
}

func (g *gen) maskedWord(off, v, mask uint32) bexpr {
	if mask == 0 {
		return bConst(v == 0)
	}
	return mcmp(off, 4, v, mask)
}

// host4 is `[proto] [dir] host|net ADDR[/mask]` for an IPv4 address.
func (g *gen) host4(addr, mask uint32, q qual, what string) (bexpr, error) {
	switch q.proto {
	case kwNone:
		b, err := g.hostop(addr, mask, q.dir, etherTypeIP, 12, 16)
		if err != nil {
			return nil, err
		}
		if g.mplsDepth == 0 {
			b1, err := g.hostop(addr, mask, q.dir, etherTypeARP, 14, 24)
			if err != nil {
				return nil, err
			}
			b2, err := g.hostop(addr, mask, q.dir, etherTypeRARP, 14, 24)
			if err != nil {
				return nil, err
			}
			b = or(or(b, b1), b2)
		}
		return b, nil
	case kwIP:
		return g.hostop(addr, mask, q.dir, etherTypeIP, 12, 16)
	case kwArp:
		return g.hostop(addr, mask, q.dir, etherTypeARP, 14, 24)
	case kwRarp:
		return g.hostop(addr, mask, q.dir, etherTypeRARP, 14, 24)
	case kwLink:
		return nil, errorf(-1, "link-layer modifier applied to %s", what)
	case kwIP6:
		return nil, errorf(-1, "'ip6' modifier applied to ip %s", what)
	}
	return nil, errorf(-1, "'%s' modifier applied to %s", protoNames[q.proto], what)
}

// host6 is `[ip6] [dir] host|net ADDR6[/len]`.
func (g *gen) host6(a netip.Addr, bits int, q qual, what string) (bexpr, error) {
	switch q.proto {
	case kwNone, kwIP6:
	case kwIP:
		return nil, errorf(-1, "'ip' modifier applied to ip6 %s", what)
	case kwLink:
		return nil, errorf(-1, "link-layer modifier applied to ip6 %s", what)
	default:
		return nil, errorf(-1, "'%s' modifier applied to ip6 %s", protoNames[q.proto], what)
	}
	b16 := a.As16()
	var mask [16]byte
	for i := 0; i < bits; i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	one := func(off uint32) bexpr {
		var b bexpr
		for w := 0; w < 4; w++ {
			v := binary.BigEndian.Uint32(b16[4*w:])
			m := binary.BigEndian.Uint32(mask[4*w:])
			t := g.maskedWord(g.nl()+off+uint32(4*w), v&m, m)
			if b == nil {
				b = t
			} else {
				b = and(b, t)
			}
		}
		return b
	}
	var b bexpr
	switch q.dir {
	case dirSrc:
		b = one(8)
	case dirDst:
		b = one(24)
	case dirAnd:
		b = and(one(8), one(24))
	default:
		b = or(one(8), one(24))
	}
	lt, err := g.linktype(etherTypeIPv6)
	if err != nil {
		return nil, err
	}
	return and(lt, b), nil
}

// ehost is `ether [dir] host MAC`.
func (g *gen) ehost(mac [6]byte, dir int) (bexpr, error) {
	if g.lt != LinkTypeEthernet {
		return nil, errorf(-1, "ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel")
	}
	at := func(off uint32) bexpr {
		return and(cmp(g.offLinkHdr+off+2, 4, binary.BigEndian.Uint32(mac[2:])),
			cmp(g.offLinkHdr+off, 2, uint32(binary.BigEndian.Uint16(mac[:2]))))
	}
	switch dir {
	case dirSrc:
		return at(6), nil
	case dirDst:
		return at(0), nil
	case dirAnd:
		return and(at(6), at(0)), nil
	}
	return or(at(6), at(0)), nil
}

// transport loads a value at off from the start of the IPv4 payload.
func (g *gen) transport(size int, off uint32) []cbpf.Instruction {
	return []cbpf.Instruction{ldxMSH(g.nl()), ldInd(sizeOf(size), g.nl()+off)}
}

func (g *gen) portAtom(off uint32, v uint32, v6 bool) bexpr {
	if v6 {
		return cmp(g.nl()+40+off, 2, v)
	}
	return &bTest{stmts: g.transport(2, off), op: cbpf.JmpJEQ, k: v}
}

func (g *gen) rangeAtom(off, lo, hi uint32, v6 bool) bexpr {
	var stmts []cbpf.Instruction
	if v6 {
		stmts = []cbpf.Instruction{ldAbs(cbpf.SizeH, g.nl()+40+off)}
	} else {
		stmts = g.transport(2, off)
	}
	return and(&bTest{stmts: stmts, op: cbpf.JmpJGE, k: lo}, not(&bTest{stmts: stmts, op: cbpf.JmpJGT, k: hi}))
}

// portop is `[proto] [dir] port N` on one IP version for one transport.
func (g *gen) portop(atom func(off uint32) bexpr, ipproto uint32, dir int, v6 bool) bexpr {
	var b1 bexpr
	switch dir {
	case dirSrc:
		b1 = atom(0)
	case dirDst:
		b1 = atom(2)
	case dirAnd:
		b1 = and(atom(0), atom(2))
	default:
		b1 = or(atom(0), atom(2))
	}
	if v6 {
		return and(cmp(g.nl()+6, 1, ipproto), b1)
	}
	return and(and(cmp(g.nl()+9, 1, ipproto), g.ipfrag()), b1)
}

// ports builds port or portrange tests for both IP versions, IPv6 first as
// libpcap evaluates it.
func (g *gen) ports(lo, hi uint32, ipproto uint32, dir int, isRange bool) (bexpr, error) {
	build := func(v6 bool) (bexpr, error) {
		atom := func(off uint32) bexpr {
			if isRange {
				return g.rangeAtom(off, lo, hi, v6)
			}
			return g.portAtom(off, lo, v6)
		}
		et := uint32(etherTypeIP)
		if v6 {
			et = etherTypeIPv6
		}
		lt, err := g.linktype(et)
		if err != nil {
			return nil, err
		}
		var b bexpr
		if ipproto == protoUndef {
			b = or(or(g.portop(atom, ipprotoTCP, dir, v6), g.portop(atom, ipprotoUDP, dir, v6)), g.portop(atom, ipprotoSCTP, dir, v6))
		} else {
			b = g.portop(atom, ipproto, dir, v6)
		}
		return and(lt, b), nil
	}
	b6, err := build(true)
	if err != nil {
		return nil, err
	}
	b4, err := build(false)
	if err != nil {
		return nil, err
	}
	return or(b6, b4), nil
}

func portProto(q qual, what string) (uint32, error) {
	switch q.proto {
	case kwNone:
		return protoUndef, nil
	case kwTCP:
		return ipprotoTCP, nil
	case kwUDP:
		return ipprotoUDP, nil
	case kwSctp:
		return ipprotoSCTP, nil
	}
	return 0, errorf(-1, "illegal qualifier of '%s'", what)
}

// lookupPort resolves a port number or service name; proto narrows to the
// transports the service is defined for.
func lookupPort(name string, proto uint32) (uint32, uint32, error) {
	if isNumber(name) {
		v, err := parseNumber(name)
		return v, proto, err
	}
	s, ok := services[name] // case-sensitive, as getservbyname
	if !ok {
		return 0, 0, errorf(-1, "unknown port '%s' (only numbers and a few well-known service names are known)", name)
	}
	if proto == protoUndef {
		switch {
		case s.tcp && !s.udp:
			proto = ipprotoTCP
		case s.udp && !s.tcp:
			proto = ipprotoUDP
		}
	}
	return s.port, proto, nil
}

// protochainDepth is how many extension headers `protochain` follows. libpcap
// compiles it to a loop with a backward jump, which the kernel refuses;
// here the loop is unrolled, so chains longer than this do not match.
const protochainDepth = 10

// bChain is `protochain`: follow the header chain from the IPv4 protocol
// field or IPv6 next-header field through IPv6 extension headers and AH,
// looking for protocol v. It is lowered to its own blocks (see lowerChain).
type bChain struct {
	v  uint32
	v6 bool
	nl uint32
}

// protochain is `[ip|ip6] protochain V`.
func (g *gen) protochain(v uint32, which keyword) (bexpr, error) {
	switch which {
	case kwNone:
		b0, err := g.protochain(v, kwIP)
		if err != nil {
			return nil, err
		}
		b1, err := g.protochain(v, kwIP6)
		if err != nil {
			return nil, err
		}
		return or(b0, b1), nil
	case kwIP, kwIP6:
		et := uint32(etherTypeIP)
		if which == kwIP6 {
			et = etherTypeIPv6
		}
		lt, err := g.linktype(et)
		if err != nil {
			return nil, err
		}
		return and(lt, &bChain{v: v, v6: which == kwIP6, nl: g.nl()}), nil
	}
	return nil, errorf(-1, "bad protocol applicable for protochain")
}
