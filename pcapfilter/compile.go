package pcapfilter

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/bpfvm/bpfvm/cbpf"
)

// LinkType is a pcap link-layer header type (LINKTYPE_* in pcap files).
type LinkType uint32

// The link types the compiler supports.
const (
	LinkTypeNull      LinkType = 0   // BSD loopback: 4-byte address family in host byte order
	LinkTypeEthernet  LinkType = 1   // Ethernet (EN10MB)
	LinkTypeRaw       LinkType = 101 // raw IPv4 or IPv6, no link header
	LinkTypeLoop      LinkType = 108 // OpenBSD loopback: address family in network byte order
	LinkTypeLinuxSLL  LinkType = 113 // Linux cooked capture v1
	LinkTypeLinuxSLL2 LinkType = 276 // Linux cooked capture v2
)

var linkTypeNames = map[LinkType]string{
	LinkTypeNull: "BSD loopback", LinkTypeEthernet: "Ethernet", LinkTypeRaw: "Raw IP",
	LinkTypeLoop: "OpenBSD loopback", LinkTypeLinuxSLL: "Linux cooked v1",
	LinkTypeLinuxSLL2: "Linux cooked v2",
}

// linkTypePPP is the link layer inside PPPoE sessions, after `pppoes`.
const linkTypePPP LinkType = 9

// String returns the link type's description.
func (lt LinkType) String() string {
	if lt == linkTypePPP {
		return "PPP"
	}
	if s, ok := linkTypeNames[lt]; ok {
		return s
	}
	return "link type " + strconv.Itoa(int(lt))
}

// ParseLinkType accepts a link type name as tcpdump -y takes it (EN10MB,
// RAW, LINUX_SLL, LINUX_SLL2, NULL, LOOP) or a number.
func ParseLinkType(s string) (LinkType, error) {
	switch strings.ToUpper(s) {
	case "EN10MB", "ETHERNET", "ETHER":
		return LinkTypeEthernet, nil
	case "RAW", "IPV4", "IPV6":
		return LinkTypeRaw, nil
	case "LINUX_SLL", "SLL":
		return LinkTypeLinuxSLL, nil
	case "LINUX_SLL2", "SLL2":
		return LinkTypeLinuxSLL2, nil
	case "NULL":
		return LinkTypeNull, nil
	case "LOOP":
		return LinkTypeLoop, nil
	}
	if v, err := strconv.ParseUint(s, 0, 32); err == nil {
		lt := LinkType(v)
		switch v {
		case 12, 14: // DLT_RAW on some systems
			lt = LinkTypeRaw
		}
		if _, ok := linkTypeNames[lt]; ok {
			return lt, nil
		}
	}
	return 0, errorf(-1, "unsupported link type %q (supported: EN10MB, RAW, LINUX_SLL, LINUX_SLL2, NULL, LOOP)", s)
}

// DefaultSnapLen is the value a matching packet returns, as libpcap's.
const DefaultSnapLen = 262144

// Options tune compilation. The zero value behaves like `tcpdump -r`.
type Options struct {
	// SnapLen is returned for accepted packets (0 means DefaultSnapLen).
	SnapLen uint32
	// NoOptimize skips the optimizer (like tcpdump -O).
	NoOptimize bool
	// Netmask is the capture network's mask, used by `ip broadcast`;
	// 0xffffffff means unknown and makes `ip broadcast` an error.
	Netmask uint32
	// NullBigEndian says a LinkTypeNull capture was written on a
	// big-endian host (its 4-byte address family is big-endian).
	NullBigEndian bool
}

// Compile compiles a pcap-filter(7) expression for captures of the given
// link type into a classic BPF program that returns opts.SnapLen for
// matching packets and 0 for the others. An empty expression matches every
// packet. Errors are *Error values naming the column where the problem is.
//
// Host names are not resolved (no DNS and no /etc/hosts): addresses must be
// numeric. Ports and protocols may be named from a built-in table of
// well-known names.
func Compile(expr string, linkType LinkType, opts Options) ([]cbpf.Instruction, error) {
	if opts.SnapLen == 0 {
		opts.SnapLen = DefaultSnapLen
	}
	g, err := newGen(linkType, opts)
	if err != nil {
		return nil, err
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	tree, err := parse(toks)
	if err != nil {
		return nil, err
	}
	var b bexpr = bConst(true)
	if tree != nil {
		if b, err = g.node(tree); err != nil {
			return nil, err
		}
	}
	return assemble(b, opts)
}

// positioned attaches a position to an error raised without one.
func positioned(err error, pos int) error {
	if e, ok := err.(*Error); ok && e.Pos < 0 {
		return &Error{Pos: pos, Msg: e.Msg}
	}
	return err
}

func (g *gen) node(n node) (bexpr, error) {
	switch n := n.(type) {
	case *andNode:
		l, err := g.node(n.l)
		if err != nil {
			return nil, err
		}
		r, err := g.node(n.r)
		if err != nil {
			return nil, err
		}
		return and(l, r), nil
	case *orNode:
		l, err := g.node(n.l)
		if err != nil {
			return nil, err
		}
		r, err := g.node(n.r)
		if err != nil {
			return nil, err
		}
		return or(l, r), nil
	case *notNode:
		x, err := g.node(n.x)
		if err != nil {
			return nil, err
		}
		return not(x), nil
	case *protoNode:
		b, err := g.protoAbbrev(n.proto)
		return b, positioned(err, n.pos)
	case *idNode:
		b, err := g.id(n)
		return b, positioned(err, n.tok.pos)
	case *primNode:
		b, err := g.prim(n)
		return b, positioned(err, n.pos)
	case *relNode:
		b, err := g.relation(n)
		return b, positioned(err, n.pos)
	}
	return nil, errorf(-1, "internal error: unknown node %T", n)
}

// atoin parses a dotted IPv4 prefix of 1 to 4 decimal parts, returning the
// value (right-aligned) and its length in bits.
func atoin(s string) (uint32, int, error) {
	parts := strings.Split(s, ".")
	var v uint32
	for _, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n > 255 {
			return 0, 0, errorf(-1, "invalid IPv4 address %q", s)
		}
		v = v<<8 | uint32(n)
	}
	return v, 8 * len(parts), nil
}

func addrWord(q qual) string {
	if q.addr == kwNet {
		return "net"
	}
	return "host"
}

func (g *gen) id(n *idNode) (bexpr, error) {
	q := n.q
	if q.undef {
		return nil, errorf(-1, "syntax error: %q has no qualifier (such as host, net or port) to inherit", n.tok.text)
	}
	switch n.tok.kind {
	case tNum:
		return g.ncode("", n.tok.num, q)
	case tHID:
		if n.maskLen >= 0 || n.maskTok != nil {
			return g.mcode(n)
		}
		return g.ncode(n.tok.text, 0, q)
	case tHID6:
		bits := 128
		if n.maskLen >= 0 {
			bits = n.maskLen
		}
		return g.mcode6(n.tok.text, bits, q)
	case tEID:
		mac, _ := parseMAC(n.tok.text)
		if (q.addr == kwHost || q.addr == kwNone) && q.proto == kwLink {
			return g.ehost(mac, q.dir)
		}
		return nil, errorf(-1, "ethernet address used in non-ether expression")
	case tID:
		return g.scode(n.tok.text, q)
	}
	return nil, errorf(-1, "syntax error")
}

// ncode handles a number or dotted address: `host 10.1`, `net 10`, `port 80`.
func (g *gen) ncode(s string, v uint32, q qual) (bexpr, error) {
	switch q.addr {
	case kwNone, kwHost, kwNet:
		if q.proto == kwLink {
			return nil, errorf(-1, "illegal link layer address")
		}
		vlen := 32
		if s != "" {
			var err error
			if v, vlen, err = atoin(s); err != nil {
				return nil, err
			}
		}
		mask := uint32(0xffffffff)
		if s == "" && q.addr == kwNet {
			// A plain number is a network number: "net 10" is 10.0.0.0/8.
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
		} else if vlen < 32 {
			v <<= 32 - vlen
			mask <<= 32 - vlen
		}
		return g.host4(v, mask, q, addrWord(q))
	case kwPort, kwPortrange:
		what := "port"
		if q.addr == kwPortrange {
			what = "portrange"
		}
		proto, err := portProto(q, what)
		if err != nil {
			return nil, err
		}
		if s != "" {
			return nil, errorf(-1, "illegal port number %s", s)
		}
		if v > 65535 {
			return nil, errorf(-1, "illegal port number %d > 65535", v)
		}
		return g.ports(v, v, proto, q.dir, q.addr == kwPortrange)
	case kwProto:
		if s != "" {
			return nil, errorf(-1, "syntax error: protocol must be a number or name")
		}
		return g.protoQual(v, q)
	case kwProtochain:
		if s != "" {
			return nil, errorf(-1, "syntax error: protocol must be a number or name")
		}
		return g.protochainQual(v, q)
	case kwGateway:
		return nil, errorf(-1, "'gateway' requires a name")
	}
	return nil, errorf(-1, "syntax error")
}

func (g *gen) protoQual(v uint32, q qual) (bexpr, error) {
	switch q.proto {
	case kwNone:
		return g.proto(v, kwNone)
	case kwIP:
		return g.proto(v, kwIP)
	case kwIP6:
		return g.proto(v, kwIP6)
	case kwLink:
		return g.linktype(v)
	case kwArp, kwRarp:
		return nil, errorf(-1, "%s does not encapsulate another protocol", protoNames[q.proto])
	}
	return nil, errorf(-1, "'%s proto' is bogus", protoNames[q.proto])
}

func (g *gen) protochainQual(v uint32, q qual) (bexpr, error) {
	switch q.proto {
	case kwNone, kwIP, kwIP6:
		return g.protochain(v, q.proto)
	}
	return nil, errorf(-1, "bad protocol applicable for protochain")
}

// mcode handles `net A/len` and `net A mask M`.
func (g *gen) mcode(n *idNode) (bexpr, error) {
	v, vlen, err := atoin(n.tok.text)
	if err != nil {
		return nil, err
	}
	v <<= 32 - vlen
	var m uint32
	shown := n.tok.text
	if n.maskTok != nil {
		mv, mlen, err := atoin(n.maskTok.text)
		if err != nil {
			return nil, err
		}
		m = mv << (32 - mlen)
		shown += " mask " + n.maskTok.text
	} else {
		if n.maskLen > 32 {
			return nil, errorf(-1, "mask length must be <= 32")
		}
		if n.maskLen > 0 {
			m = 0xffffffff << (32 - n.maskLen)
		}
		shown += "/" + strconv.Itoa(n.maskLen)
	}
	if v&^m != 0 {
		return nil, errorf(-1, "non-network bits set in \"%s\"", shown)
	}
	if n.q.addr != kwNet {
		return nil, errorf(-1, "Mask syntax for networks only")
	}
	return g.host4(v, m, n.q, "net")
}

// mcode6 handles an IPv6 address with an optional prefix length.
func (g *gen) mcode6(s string, bits int, q qual) (bexpr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, errorf(-1, "invalid IPv6 address %q", s)
	}
	if bits > 128 {
		return nil, errorf(-1, "mask length must be <= 128")
	}
	p, _ := a.Prefix(bits)
	if p.Addr() != a {
		return nil, errorf(-1, "non-network bits set in \"%s/%d\"", s, bits)
	}
	switch q.addr {
	case kwNone, kwHost:
		if bits != 128 {
			return nil, errorf(-1, "Mask syntax for networks only")
		}
	case kwNet:
	default:
		return nil, errorf(-1, "invalid qualifier against IPv6 address")
	}
	return g.host6(a, bits, q, addrWord(q))
}

// scode handles a name: a service, protocol or port range.
func (g *gen) scode(name string, q qual) (bexpr, error) {
	switch q.addr {
	case kwNone, kwHost, kwNet:
		if q.proto == kwLink {
			return nil, errorf(-1, "unknown ether host '%s' (names are not resolved: use a MAC address)", name)
		}
		return nil, errorf(-1, "unknown host '%s' (host names are not resolved: use a numeric address)", name)
	case kwPort:
		proto, err := portProto(q, "port")
		if err != nil {
			return nil, err
		}
		v, proto, err := lookupPort(name, proto)
		if err != nil {
			return nil, err
		}
		return g.ports(v, v, proto, q.dir, false)
	case kwPortrange:
		proto, err := portProto(q, "portrange")
		if err != nil {
			return nil, err
		}
		for i := 0; i < len(name); i++ {
			if name[i] != '-' {
				continue
			}
			lo, p1, err1 := lookupPort(name[:i], proto)
			hi, p2, err2 := lookupPort(name[i+1:], proto)
			if err1 != nil || err2 != nil {
				continue
			}
			if lo > 65535 || hi > 65535 {
				return nil, errorf(-1, "illegal port number in range '%s'", name)
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if p1 != p2 {
				p1 = proto
			}
			return g.ports(lo, hi, p1, q.dir, true)
		}
		return nil, errorf(-1, "unknown port in range '%s'", name)
	case kwProto:
		if q.proto == kwLink {
			v, ok := etherProtocols[name]
			if !ok {
				return nil, errorf(-1, "unknown ether proto '%s'", name)
			}
			return g.linktype(v)
		}
		v, ok := ipProtocols[name]
		if !ok {
			return nil, errorf(-1, "unknown ip proto '%s'", name)
		}
		return g.protoQual(v, q)
	case kwProtochain:
		v, ok := ipProtocols[name]
		if !ok {
			return nil, errorf(-1, "unknown ip proto '%s'", name)
		}
		return g.protochainQual(v, q)
	case kwGateway:
		return nil, errorf(-1, "'gateway' needs host name resolution, which is not supported")
	}
	return nil, errorf(-1, "syntax error")
}

func (g *gen) prim(n *primNode) (bexpr, error) {
	switch n.kind {
	case kwBroadcast:
		switch n.proto {
		case kwNone, kwLink:
			if g.lt != LinkTypeEthernet {
				return nil, errorf(-1, "not a broadcast link")
			}
			return g.ehost([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dirDst)
		case kwIP:
			if g.opts.Netmask == 0xffffffff {
				return nil, errorf(-1, "netmask not known, so 'ip broadcast' not supported")
			}
			lt, err := g.linktype(etherTypeIP)
			if err != nil {
				return nil, err
			}
			hm := ^g.opts.Netmask
			return and(lt, or(g.maskedWord(g.nl()+16, 0, hm), g.maskedWord(g.nl()+16, hm, hm))), nil
		}
		return nil, errorf(-1, "only link-layer/IP broadcast filters supported")
	case kwMulticast:
		switch n.proto {
		case kwNone, kwLink:
			if g.lt != LinkTypeEthernet {
				return nil, errorf(-1, "link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")
			}
			return jset(g.offLinkHdr, 1, 1), nil
		case kwIP:
			lt, err := g.linktype(etherTypeIP)
			if err != nil {
				return nil, err
			}
			return and(lt, cmpOp(g.nl()+16, 1, cbpf.JmpJGE, 224)), nil
		case kwIP6:
			lt, err := g.linktype(etherTypeIPv6)
			if err != nil {
				return nil, err
			}
			return and(lt, cmp(g.nl()+24, 1, 255)), nil
		}
		return nil, errorf(-1, "only link-layer/IP multicast filters supported")
	case kwInbound, kwOutbound:
		// The packet type of Linux cooked captures; 4 is PACKET_OUTGOING.
		var b bexpr
		switch g.lt {
		case LinkTypeLinuxSLL:
			b = cmp(0, 2, 4)
		case LinkTypeLinuxSLL2:
			b = cmp(10, 1, 4)
		default:
			return nil, errorf(-1, "inbound/outbound not supported on %s", g.lt)
		}
		if n.kind == kwInbound {
			b = not(b)
		}
		return b, nil
	case kwIfindex:
		if g.lt != LinkTypeLinuxSLL2 {
			return nil, errorf(-1, "ifindex not supported on %s", g.lt)
		}
		return cmp(4, 4, n.num), nil
	case kwLess:
		return not(&bTest{stmts: []cbpf.Instruction{ldLen()}, op: cbpf.JmpJGT, k: n.num}), nil
	case kwGreater:
		return &bTest{stmts: []cbpf.Instruction{ldLen()}, op: cbpf.JmpJGE, k: n.num}, nil
	case kwVLAN:
		if g.lt != LinkTypeEthernet {
			return nil, errorf(-1, "no VLAN support for %s", g.lt)
		}
		if g.mplsDepth > 0 {
			return nil, errorf(-1, "no VLAN match after MPLS")
		}
		if n.has && n.num > 4095 {
			return nil, errorf(-1, "VLAN tag %d greater than maximum 4095", n.num)
		}
		t := uint32(g.offType)
		b := or(or(cmp(t, 2, 0x8100), cmp(t, 2, 0x88a8)), cmp(t, 2, 0x9100))
		if n.has {
			b = and(b, mcmp(g.nl(), 2, n.num, 0x0fff))
		}
		g.offType += 4
		g.offPL += 4
		g.vlanDepth++
		return b, nil
	case kwPPPoED:
		return g.linktype(0x8863)
	case kwPPPoES:
		if n.has && n.num > 0xffff {
			return nil, errorf(-1, "PPPoE session number %d greater than maximum 65535", n.num)
		}
		b, err := g.linktype(0x8864)
		if err != nil {
			return nil, err
		}
		if n.has {
			b = and(b, mcmp(g.nl(), 4, n.num, 0xffff))
		}
		// What follows is a PPP packet: its protocol field is 6 bytes past
		// the PPPoE header, its payload 2 bytes further.
		g.lt = linkTypePPP
		g.offLinkHdr = g.nl() + 6
		g.offType = int64(g.offLinkHdr)
		g.offPL = g.offLinkHdr + 2
		g.offNL = 0
		return b, nil
	case kwMPLS:
		if n.has && n.num > 0xfffff {
			return nil, errorf(-1, "MPLS label %d greater than maximum 1048575", n.num)
		}
		var b bexpr
		if g.mplsDepth > 0 {
			// The previous label must not be the bottom of the stack.
			b = mcmp(g.nl()-2, 1, 0, 1)
		} else {
			if g.lt != LinkTypeEthernet {
				return nil, errorf(-1, "no MPLS support for %s", g.lt)
			}
			b = cmp(uint32(g.offType), 2, etherTypeMPLS)
		}
		if n.has {
			b = and(b, mcmp(g.nl(), 4, n.num<<12, 0xfffff000))
		}
		g.offNL += 4
		g.mplsDepth++
		return b, nil
	case kwByte:
		off := g.nl() + n.num
		switch n.op {
		case "=":
			return cmp(off, 1, n.num2), nil
		case "<":
			return not(cmpOp(off, 1, cbpf.JmpJGE, n.num2)), nil
		case ">":
			return cmpOp(off, 1, cbpf.JmpJGT, n.num2), nil
		case "&":
			return not(&bTest{stmts: []cbpf.Instruction{ldAbs(cbpf.SizeB, off), aluK(cbpf.AluAND, n.num2)}, op: cbpf.JmpJEQ}), nil
		case "|":
			return not(&bTest{stmts: []cbpf.Instruction{ldAbs(cbpf.SizeB, off), aluK(cbpf.AluOR, n.num2)}, op: cbpf.JmpJEQ}), nil
		}
	}
	return nil, errorf(-1, "syntax error")
}
