package pcapfilter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// tokKind is the kind of a lexical token.
type tokKind int

const (
	tEOF     tokKind = iota
	tID              // a name: host name, service, protocol, or an escaped keyword (\tcp)
	tNum             // a number (decimal, 0x hex, 0 octal) or a named constant (tcp-syn)
	tHID             // a dotted IPv4 address or prefix: 10, 10.1, 10.1.2, 10.1.2.3 (2-4 parts)
	tHID6            // an IPv6 address
	tEID             // an Ethernet (MAC) address
	tKeyword         // a reserved word; see token.kw
	tOp              // an operator or punctuation; see token.text
)

// token is one lexical token; pos is its byte offset in the expression.
type token struct {
	kind tokKind
	text string
	kw   keyword
	num  uint32
	pos  int
}

// keyword identifies a reserved word of the pcap-filter language.
type keyword int

const (
	kwNone keyword = iota
	// protocol names (pname)
	kwLink
	kwIP
	kwArp
	kwRarp
	kwSctp
	kwTCP
	kwUDP
	kwICMP
	kwIGMP
	kwIGRP
	kwPIM
	kwVRRP
	kwCARP
	kwIP6
	kwICMP6
	kwAH
	kwESP
	// direction
	kwSrc
	kwDst
	// address kinds
	kwHost
	kwNet
	kwPort
	kwPortrange
	kwGateway
	kwProto
	kwProtochain
	kwMask
	// others
	kwAnd
	kwOr
	kwNot
	kwLess
	kwGreater
	kwLen
	kwBroadcast
	kwMulticast
	kwVLAN
	kwMPLS
	kwByte
	kwInbound
	kwOutbound
	kwIfindex
	kwPPPoED
	kwPPPoES
	// recognised by libpcap but not implemented here: they are reserved so
	// that they are never mistaken for host names, and reported clearly.
	kwUnsupported
)

var keywords = map[string]keyword{
	"link": kwLink, "ether": kwLink, "ppp": kwLink, "slip": kwLink,
	"fddi": kwLink, "tr": kwLink, "wlan": kwLink,
	"ip": kwIP, "arp": kwArp, "rarp": kwRarp, "sctp": kwSctp, "tcp": kwTCP,
	"udp": kwUDP, "icmp": kwICMP, "igmp": kwIGMP, "igrp": kwIGRP, "pim": kwPIM,
	"vrrp": kwVRRP, "carp": kwCARP, "ip6": kwIP6, "icmp6": kwICMP6,
	"ah": kwAH, "esp": kwESP,
	"src": kwSrc, "dst": kwDst,
	"host": kwHost, "net": kwNet, "port": kwPort, "portrange": kwPortrange,
	"gateway": kwGateway, "proto": kwProto, "protochain": kwProtochain,
	"mask": kwMask,
	"and":  kwAnd, "or": kwOr, "not": kwNot,
	"less": kwLess, "greater": kwGreater, "len": kwLen, "length": kwLen,
	"broadcast": kwBroadcast, "multicast": kwMulticast,
	"vlan": kwVLAN, "mpls": kwMPLS, "byte": kwByte,
	"inbound": kwInbound, "outbound": kwOutbound, "ifindex": kwIfindex,
	"pppoed": kwPPPoED, "pppoes": kwPPPoES,
}

// unsupportedKeywords are libpcap reserved words this compiler does not
// implement (link types and protocols outside the Ethernet/IP family).
var unsupportedKeywords = []string{
	"radio", "atalk", "aarp", "decnet", "lat", "sca", "moprc", "mopdl",
	"iso", "esis", "es-is", "isis", "is-is", "l1", "l2", "iih", "lsp", "snp",
	"csnp", "psnp", "clnp", "stp", "ipx", "netbeui",
	"type", "subtype", "direction", "dir", "address1", "addr1", "address2",
	"addr2", "address3", "addr3", "address4", "addr4", "ra", "ta",
	"geneve",
	"lane", "llc", "metac", "bcc", "oam", "oamf4", "oamf4ec", "oamf4sc",
	"sc", "ilmic", "vpi", "vci", "connectmsg", "metaconnect",
	"on", "ifname", "rnr", "rulenum", "reason", "rset", "ruleset",
	"srnr", "subrulenum", "action", "fisu", "lssu", "lsu", "msu", "hfisu",
	"hlssu", "hmsu", "sio", "opc", "dpc", "sls", "hsio", "hopc", "hdpc", "hsls",
}

// namedNumbers are the field offsets and flag values libpcap's lexer returns
// as numbers.
var namedNumbers = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4,
	"icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
	"icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12,
	"icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2,
	"icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4,
	"icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133,
	"icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
	"icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
	"icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
	"icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
	"icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
	"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,
	"tcpflags":                  13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04,
	"tcp-push": 0x08, "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40,
	"tcp-cwr": 0x80,
}

func init() {
	for _, w := range unsupportedKeywords {
		keywords[w] = kwUnsupported
	}
}

// Error is a compile error: a message and the byte offset in the
// expression where it was found (-1 when it concerns the whole expression).
type Error struct {
	Pos int    // 0-based byte offset in the expression; printed as a 1-based column
	Msg string // the message, worded like libpcap's where libpcap has one
}

func (e *Error) Error() string {
	if e.Pos < 0 {
		return e.Msg
	}
	return fmt.Sprintf("column %d: %s", e.Pos+1, e.Msg)
}

func errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// lex splits an expression into tokens, following libpcap's scanner: the
// longest match wins, and among equally long matches addresses and numbers
// beat names. Names may contain '-', '_' and '.', so "len-1" is one name (as
// in libpcap, where it is then a syntax error).
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		if i >= len(s) {
			toks = append(toks, token{kind: tEOF, pos: i})
			return toks, nil
		}
		start := i
		c := s[i]
		if i+1 < len(s) {
			switch two := s[i : i+2]; two {
			case ">=", "<=", "!=", "==", "<<", ">>", "&&", "||":
				if two == "==" {
					two = "="
				}
				t := token{kind: tOp, text: two, pos: start}
				if two == "&&" {
					t = token{kind: tKeyword, kw: kwAnd, text: two, pos: start}
				} else if two == "||" {
					t = token{kind: tKeyword, kw: kwOr, text: two, pos: start}
				}
				toks = append(toks, t)
				i += 2
				continue
			}
		}
		if c == ':' && i+1 < len(s) && s[i+1] == ':' {
			// An IPv6 address starting with "::".
			k := i
			for k < len(s) && (isHex(s[k]) || s[k] == ':' || s[k] == '.') {
				k++
			}
			word := s[i:k]
			if a, err := netip.ParseAddr(word); err == nil && a.Is6() {
				toks = append(toks, token{kind: tHID6, text: word, pos: start})
				i = k
				continue
			}
			return nil, errorf(start, "bogus IPv6 address %s", word)
		}
		if strings.IndexByte("+-*/%:[]!<>()&|^=", c) >= 0 {
			toks = append(toks, token{kind: tOp, text: string(c), pos: start})
			i++
			continue
		}
		if c == '\\' {
			j := i + 1
			for j < len(s) && strings.IndexByte(" !()\n\t", s[j]) < 0 {
				j++
			}
			if j == i+1 {
				return nil, errorf(start, "illegal char '\\'")
			}
			toks = append(toks, token{kind: tID, text: s[i+1 : j], pos: start})
			i = j
			continue
		}
		if !isAlnum(c) {
			return nil, errorf(start, "illegal char '%c'", c)
		}
		// Candidate 1: a name [A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?
		j := i
		for j < len(s) && (isAlnum(s[j]) || s[j] == '-' || s[j] == '_' || s[j] == '.') {
			j++
		}
		for j > i+1 && (s[j-1] == '-' || s[j-1] == '_') {
			j--
		}
		name := s[i:j]
		// Candidate 2: something with colons (IPv6 or MAC address).
		k := i
		for k < len(s) && (isHex(s[k]) || s[k] == ':' || s[k] == '.') {
			k++
		}
		if k > j && strings.IndexByte(s[i:k], ':') >= 0 {
			word := s[i:k]
			if _, ok := parseMAC(word); ok {
				toks = append(toks, token{kind: tEID, text: word, pos: start})
				i = k
				continue
			} else if a, err := netip.ParseAddr(word); err == nil && a.Is6() {
				toks = append(toks, token{kind: tHID6, text: word, pos: start})
				i = k
				continue
			} else if strings.Count(word, ":") >= 2 {
				return nil, errorf(start, "bogus ethernet or IPv6 address %s", word)
			}
			// One colon: a number followed by ':' as in "ip[2:2]".
		}
		i = j
		if kw, ok := keywords[name]; ok {
			toks = append(toks, token{kind: tKeyword, kw: kw, text: name, pos: start})
			continue
		}
		if v, ok := namedNumbers[name]; ok {
			toks = append(toks, token{kind: tNum, num: v, text: name, pos: start})
			continue
		}
		if _, ok := parseMAC(name); ok {
			toks = append(toks, token{kind: tEID, text: name, pos: start})
			continue
		}
		if isNumber(name) {
			v, err := parseNumber(name)
			if err != nil {
				return nil, errorf(start, "%s", err)
			}
			toks = append(toks, token{kind: tNum, num: v, text: name, pos: start})
			continue
		}
		if parts := strings.Split(name, "."); len(parts) >= 2 && len(parts) <= 4 {
			ok := true
			for _, p := range parts {
				if !isNumber(p) {
					ok = false
				}
			}
			if ok {
				toks = append(toks, token{kind: tHID, text: name, pos: start})
				continue
			}
		}
		toks = append(toks, token{kind: tID, text: name, pos: start})
	}
}

// isNumber reports whether s is libpcap's N: [0-9]+ | 0[xX][0-9A-Fa-f]+.
func isNumber(s string) bool {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		for i := 2; i < len(s); i++ {
			if !isHex(s[i]) {
				return false
			}
		}
		return true
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNumber converts an N token: hex after 0x, octal after a leading 0,
// decimal otherwise; values must fit in 32 bits.
func parseNumber(s string) (uint32, error) {
	base := 10
	digits := s
	switch {
	case len(s) > 2 && (s[1] == 'x' || s[1] == 'X'):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
		if strings.ContainsAny(digits, "89") {
			return 0, fmt.Errorf("number %s contains non-octal digit", s)
		}
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, fmt.Errorf("number %s overflows 32 bits", s)
	}
	return uint32(v), nil
}

// parseMAC parses xx:xx:xx:xx:xx:xx, xx-xx-xx-xx-xx-xx, xxxx.xxxx.xxxx
// (one- or two-digit groups for the first two forms, as libpcap allows).
func parseMAC(s string) ([6]byte, bool) {
	var mac [6]byte
	for _, sep := range []string{":", "-"} {
		parts := strings.Split(s, sep)
		if len(parts) != 6 {
			continue
		}
		ok := true
		for i, p := range parts {
			if len(p) < 1 || len(p) > 2 || !isHex(p[0]) || len(p) == 2 && !isHex(p[1]) {
				ok = false
				break
			}
			v, _ := strconv.ParseUint(p, 16, 8)
			mac[i] = byte(v)
		}
		if ok {
			return mac, true
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) == 3 {
		for i, p := range parts {
			if len(p) != 4 {
				return mac, false
			}
			for j := 0; j < 4; j++ {
				if !isHex(p[j]) {
					return mac, false
				}
			}
			v, _ := strconv.ParseUint(p, 16, 16)
			mac[2*i] = byte(v >> 8)
			mac[2*i+1] = byte(v)
		}
		return mac, true
	}
	return mac, false
}
