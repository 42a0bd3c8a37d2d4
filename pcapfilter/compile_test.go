package pcapfilter

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bpfvm/bpfvm/cbpf"
)

func mustCompile(t testing.TB, expr string, lt LinkType, opts Options) []cbpf.Instruction {
	t.Helper()
	p, err := Compile(expr, lt, opts)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return p
}

// Pairs of expressions libpcap's grammar makes equivalent: they must
// compile to the same program.
func TestGrammarEquivalences(t *testing.T) {
	pairs := [][2]string{
		// and/or: equal precedence, left associative.
		{"tcp or udp and host 10.0.0.1", "(tcp or udp) and host 10.0.0.1"},
		{"tcp and udp or icmp", "(tcp and udp) or icmp"},
		{"tcp && udp || icmp", "(tcp and udp) or icmp"},
		// not binds tighter.
		{"not tcp and udp", "(not tcp) and udp"},
		{"! tcp or udp", "(not tcp) or udp"},
		// Qualifier inheritance.
		{"host 10.0.0.1 or 10.0.0.2", "host 10.0.0.1 or host 10.0.0.2"},
		{"tcp dst port 80 or 443", "tcp dst port 80 or tcp dst port 443"},
		{"host 10.0.0.1 and not 10.0.0.2", "host 10.0.0.1 and not host 10.0.0.2"},
		{"src net 10.0.0.0/8 or 192.168.0.0/16", "src net 10.0.0.0/8 or src net 192.168.0.0/16"},
		{"port 80 and (22 or 443)", "port 80 and (port 22 or port 443)"},
		{"not host 10.0.0.1 or 10.0.0.2", "not host 10.0.0.1 or host 10.0.0.2"},
		{"ether src 00:11:22:33:44:55 or 66:77:88:99:aa:bb", "ether src 00:11:22:33:44:55 or ether src 66:77:88:99:aa:bb"},
		// Aliases and number forms.
		{"ip[0] == 0x45", "ip[0] = 69"},
		{"ip[0] = 0105", "ip[0] = 69"},
		{"length > 10", "len > 10"},
		{"ether proto \\ip", "ip"},
		{"proto \\udp", "udp"},
		{"ether dst 00-11-22-33-44-55", "ether dst 00:11:22:33:44:55"},
		{"ether dst 0011.2233.4455", "ether dst 0:11:22:33:44:55"},
		{"net 10.0.0.0 mask 255.0.0.0", "net 10.0.0.0/8"},
		{"net 10", "net 10.0.0.0/8"},
		{"host 2001:db8:0:0::1", "host 2001:db8::1"},
		{"tcp[tcpflags] & tcp-syn != 0", "tcp[13] & 2 != 0"},
		{"icmp[icmptype] = icmp-echo", "icmp[0] = 8"},
		// Arithmetic precedence: * over +, + over <<, << over &, & over |.
		{"len + 2 * 3 = 10", "len + (2 * 3) = 10"},
		{"len << 1 + 1 = 10", "len << (1 + 1) = 10"},
		{"len & 1 << 2 = 4", "len & (1 << 2) = 4"},
		{"len | 1 & 2 = 3", "len | (1 & 2) = 3"},
		{"len - 1 - 1 = 3", "(len - 1) - 1 = 3"},
		// '^' has no precedence in libpcap: it takes everything after it.
		{"len & 1 ^ 2 = 3", "len & (1 ^ 2) = 3"},
		{"len ^ 1 | 2 = 3", "len ^ (1 | 2) = 3"},
		{"(ip[0]) & 0xf > 5", "ip[0] & 0xf > 5"},
	}
	for _, p := range pairs {
		a := mustCompile(t, p[0], LinkTypeEthernet, Options{})
		b := mustCompile(t, p[1], LinkTypeEthernet, Options{})
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q and %q compile differently:\n%s\n%s", p[0], p[1], cbpf.FormatListing(a), cbpf.FormatListing(b))
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		expr string
		col  int // 1-based column, 0 for none
		msg  string
	}{
		{"tcp port 99999", 10, "illegal port number 99999 > 65535"},
		{"ether proto foo", 13, "unknown ether proto 'foo'"},
		{"(tcp", 5, "unexpected end"},
		{"tcp)", 4, "syntax error"},
		{"ip6 host 1.2.3.4", 10, "'ip6' modifier applied to ip host"},
		{"tcp host 1.2.3.4", 10, "'tcp' modifier applied to host"},
		{"host 10.1.0.0/16", 6, "Mask syntax for networks only"},
		{"net 10.1.2.0/16", 5, `non-network bits set in "10.1.2.0/16"`},
		{"host foo", 6, "unknown host 'foo'"},
		{"udp port nosuch", 10, "unknown port 'nosuch'"},
		{"vlan 4096", 1, "VLAN tag 4096 greater than maximum 4095"},
		{"mpls and vlan", 10, "no VLAN match after MPLS"},
		{"ip[0] / 0 = 1", 7, "division by zero"},
		{"ip[0] << 32 = 1", 7, "shift by more than 31 bits"},
		{"ip[0:3] = 1", 6, "data size must be 1, 2, or 4"},
		{"09", 1, "non-octal digit"},
		{"0x100000000 = 1", 1, "overflows 32 bits"},
		{"host 1:2:3", 6, "bogus"},
		{"tcp $", 5, "illegal char '$'"},
		{"atalk", 1, "not supported by this compiler"},
		{"tcp protochain 6", 16, "bad protocol applicable for protochain"},
		{"link", 1, "link layer applied in wrong context"},
		{"ip broadcast", 1, ""}, // valid with the default netmask 0
	}
	for _, c := range cases {
		_, err := Compile(c.expr, LinkTypeEthernet, Options{})
		if c.msg == "" {
			if err != nil {
				t.Errorf("%q: unexpected error %v", c.expr, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: want an *Error containing %q, got %v", c.expr, c.msg, err)
			continue
		}
		if !strings.Contains(e.Msg, c.msg) || e.Pos+1 != c.col {
			t.Errorf("%q: got %q at column %d, want %q at column %d", c.expr, e.Msg, e.Pos+1, c.msg, c.col)
		}
	}
	if _, err := Compile("ip broadcast", LinkTypeEthernet, Options{Netmask: 0xffffffff}); err == nil || !strings.Contains(err.Error(), "netmask not known") {
		t.Errorf("ip broadcast with an unknown netmask: %v", err)
	}
	if _, err := Compile("ip", LinkType(9999), Options{}); err == nil {
		t.Error("unknown link type accepted")
	}
	// A huge expression must fail cleanly, not produce an invalid program.
	huge := strings.Repeat("host 10.0.0.1 or ", 2000) + "host 10.0.0.2"
	if p, err := Compile(huge, LinkTypeEthernet, Options{NoOptimize: true}); err == nil && len(p) > cbpf.MaxInstructions {
		t.Errorf("program of %d instructions accepted", len(p))
	}
}

func TestEmptyExpressionMatchesAll(t *testing.T) {
	for _, expr := range []string{"", "   "} {
		p := mustCompile(t, expr, LinkTypeEthernet, Options{})
		if len(p) != 1 || cbpf.Eval(p, []byte{1}, nil) != DefaultSnapLen {
			t.Errorf("%q: %v", expr, p)
		}
	}
	p := mustCompile(t, "ip", LinkTypeEthernet, Options{SnapLen: 96})
	if got := p[len(p)-1].K | p[len(p)-2].K; got != 96 {
		t.Errorf("SnapLen not used: %v", p)
	}
}

// The optimizer must not change any verdict on packets long enough for
// every load the expression makes, and must make programs smaller.
func TestOptimizerPreservesVerdicts(t *testing.T) {
	exprs := append(append([]string{}, ipExprs...), etherExprs...)
	exprs = append(exprs, combinations(rand.New(rand.NewPCG(3, 3)), 80)...)
	for _, l := range testLinkTypes {
		pkts := linkPackets(l.lt, rand.New(rand.NewPCG(2, uint64(l.lt))))
		opt, plain := 0, 0
		for _, expr := range exprs {
			a, err := Compile(expr, l.lt, Options{})
			if err != nil {
				continue
			}
			b := mustCompile(t, expr, l.lt, Options{NoOptimize: true})
			if err := cbpf.Check(b); err != nil {
				t.Errorf("%s %q: unoptimised program rejected by the checker: %v", l.name, expr, err)
			}
			opt += len(a)
			plain += len(b)
			for i, p := range pkts {
				if truncated(p) {
					continue
				}
				if x, y := cbpf.Eval(a, p, nil), cbpf.Eval(b, p, nil); x != y {
					t.Errorf("%s %q: packet %d: optimised %d, unoptimised %d", l.name, expr, i, x, y)
					break
				}
			}
		}
		if opt >= plain {
			t.Errorf("%s: optimizer did not shrink programs: %d vs %d", l.name, opt, plain)
		}
		t.Logf("%s: %d instructions optimised, %d unoptimised", l.name, opt, plain)
	}
}

func TestLongJumps(t *testing.T) {
	// Enough alternatives that a conditional jump would exceed 255.
	expr := strings.Repeat("tcp[13] = 1 or ", 120) + "udp"
	p := mustCompile(t, expr, LinkTypeEthernet, Options{NoOptimize: true})
	if err := cbpf.Check(p); err != nil {
		t.Fatal(err)
	}
	q := mustCompile(t, expr, LinkTypeEthernet, Options{})
	pkts := linkPackets(LinkTypeEthernet, rand.New(rand.NewPCG(1, 1)))
	for i, pkt := range pkts {
		if cbpf.Eval(p, pkt, nil) != cbpf.Eval(q, pkt, nil) && !truncated(pkt) {
			t.Fatalf("packet %d: verdicts differ", i)
		}
	}
}

func TestParseLinkType(t *testing.T) {
	for s, want := range map[string]LinkType{"EN10MB": 1, "raw": 101, "LINUX_SLL": 113, "LINUX_SLL2": 276, "NULL": 0, "LOOP": 108, "1": 1, "12": 101, "276": 276} {
		got, err := ParseLinkType(s)
		if err != nil || got != want {
			t.Errorf("ParseLinkType(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"FDDI", "999", ""} {
		if _, err := ParseLinkType(s); err == nil {
			t.Errorf("ParseLinkType(%q) accepted", s)
		}
	}
	if LinkTypeEthernet.String() != "Ethernet" || LinkType(7).String() != "link type 7" {
		t.Error("LinkType.String")
	}
}

func FuzzCompile(f *testing.F) {
	for _, e := range ipExprs {
		f.Add(e)
	}
	for _, e := range etherExprs {
		f.Add(e)
	}
	for _, e := range errorExprs {
		f.Add(e)
	}
	long := make([]byte, 1500)
	for i := range long {
		long[i] = byte(i*7 + 3)
	}
	long[12], long[13], long[14] = 0x08, 0x00, 0x45
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 2000 {
			return
		}
		for _, l := range testLinkTypes {
			p, err := Compile(expr, l.lt, Options{})
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Msg == "" {
					t.Fatalf("%q: error is not a *Error: %v", expr, err)
				}
				continue
			}
			if err := cbpf.Check(p); err != nil {
				t.Fatalf("%q (%s): the checker rejects the program: %v\n%s", expr, l.name, err, cbpf.FormatListing(p))
			}
			u, err := Compile(expr, l.lt, Options{NoOptimize: true})
			if err != nil {
				t.Fatalf("%q: compiles optimised but not unoptimised: %v", expr, err)
			}
			if err := cbpf.Check(u); err != nil {
				t.Fatalf("%q (%s): the checker rejects the unoptimised program: %v", expr, l.name, err)
			}
			// Without arbitrary packet indexing every load fits in the
			// long packet, so the optimizer must not change the verdict.
			if !strings.Contains(expr, "[") {
				if a, b := cbpf.Eval(p, long, nil), cbpf.Eval(u, long, nil); a != b {
					t.Fatalf("%q (%s): optimised %d, unoptimised %d\n%s\n%s", expr, l.name, a, b, cbpf.FormatListing(p), cbpf.FormatListing(u))
				}
			}
		}
	})
}

// Deeply nested input must compile (or fail) quickly: the parser does not
// backtrack exponentially.
func TestDeepNesting(t *testing.T) {
	for _, expr := range []string{
		strings.Repeat("(", 300) + "tcp" + strings.Repeat(")", 300),
		strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300) + " = 1",
		strings.Repeat("host 10.0.0.1 and (", 200) + "10.0.0.2" + strings.Repeat(")", 200),
		strings.Repeat("tcp and (", 200) + "udp" + strings.Repeat(")", 199),
		strings.Repeat("not ", 500) + "tcp",
		strings.Repeat("(1 + ", 100) + "1" + strings.Repeat(")", 100) + " > len",
	} {
		start := time.Now()
		Compile(expr, LinkTypeEthernet, Options{})
		if d := time.Since(start); d > 10*time.Second { // generous: -race and a loaded machine; an exponential parse takes forever
			t.Errorf("%.40q...: took %v", expr, d)
		}
	}
}

// protochain follows at most protochainDepth extension headers (classic BPF cannot
// loop); libpcap follows any number.
func TestProtochainDepth(t *testing.T) {
	p := mustCompile(t, "ip6 protochain 6", LinkTypeRaw, Options{})
	for n := 0; n <= protochainDepth+2; n++ {
		pkt := ipv6Pkt("2001:db8::1", "2001:db8::2", 6, tcpSeg(1, 2, 2, 0, 0), make([]byte, n)) // n hop-by-hop headers
		got := cbpf.Eval(p, pkt, nil) != 0
		if want := n <= protochainDepth; got != want {
			t.Errorf("%d extension headers: match %v, want %v", n, got, want)
		}
	}
}
