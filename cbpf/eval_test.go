package cbpf

import (
	"encoding/binary"
	"testing"
)

// tcpFrame returns a 64-byte Ethernet/IPv4/TCP frame to dstPort with an IP
// header of ihl words and the given fragment field.
func tcpFrame(dstPort uint16, ihl int, frag uint16) []byte {
	f := make([]byte, 64)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(f[20:], frag)
	f[23] = 6
	binary.BigEndian.PutUint16(f[14+ihl*4+2:], dstPort)
	return f
}

func TestEvalHTTP(t *testing.T) {
	udp := tcpFrame(80, 5, 0)
	udp[23] = 17
	arp := tcpFrame(80, 5, 0)
	arp[12] = 0x08
	arp[13] = 0x06
	for _, c := range []struct {
		name string
		pkt  []byte
		want uint32
	}{
		{"port 80", tcpFrame(80, 5, 0), 262144},
		{"port 80, options", tcpFrame(80, 7, 0), 262144},
		{"port 81", tcpFrame(81, 5, 0), 0},
		{"fragment", tcpFrame(80, 5, 0x10), 0},
		{"udp", udp, 0},
		{"arp", arp, 0},
		{"truncated before port", tcpFrame(80, 5, 0)[:37], 0},
		{"empty", nil, 0},
	} {
		if got := Eval(httpProgram, c.pkt, nil); got != c.want {
			t.Errorf("%s: Eval = %d, want %d", c.name, got, c.want)
		}
	}
}

func mustAssemble(t testing.TB, src string) []Instruction {
	t.Helper()
	prog, err := Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// TestEvalSemantics pins Linux's semantics where classic BPF
// implementations differ.
func TestEvalSemantics(t *testing.T) {
	pkt := []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12}
	md := &Metadata{
		Protocol: 0x86dd, PktType: 3, IfIndex: 7, Mark: 0xdead, Queue: 2, HAType: 772, RXHash: 0x1234,
		CPU: 1, VLANTag: 0x0123, VLANTPID: 0x8100, VLANPresent: true, PayOffset: 34, NetOffset: 4,
		Random: func() uint32 { return 42 },
	}
	for _, c := range []struct {
		src  string
		want uint32
	}{
		{"ld [0]\nret a", 0x01020304},
		{"ldh [16]\nret a", 0x1112},
		{"ldh [17]\nret #1", 0}, // half-word crossing the end: drop
		{"ld [15]\nret #1", 0},
		{"ldb [17]\nret a", 0x12},
		{"ld #len\nret a", 18},
		{"ldx #len\ntxa\nret a", 18},
		{"ldx #3\nldb [x + 1]\nret a", 5},
		{"ldx #0xffffffff\nldb [x + 2]\nret a", 2}, // x + k wraps in 32 bits
		{"ldx #1\nldb [x + -2]\nret #1", 0},        // -1 is SKF_NET_OFF + 0xfffff: past the end, drop
		{"ldxb 4*([0]&0xf)\ntxa\nret a", 4},
		{"ld #7\nldxb 4*([0]&0xf)\nret a", 7}, // msh keeps A
		{"ldxb 4*([18]&0xf)\nret #1", 0},
		{"ld [-1048576]\nret a", 0x05060708}, // SKF_NET_OFF + 0 = packet[NetOffset]
		{"ldb [-2097152]\nret a", 0x01},      // SKF_LL_OFF + 0 = packet[0]
		{"ldb [-2097135]\nret a", 0x12},      // SKF_LL_OFF + 17
		{"ldb [-2097134]\nret #1", 0},        // SKF_LL_OFF + 18: out of the packet
		{"ld [-2097153]\nret #1", 0},         // below SKF_LL_OFF
		{"ld #proto\nret a", 0x86dd},
		{"ldb #type\nret a", 3},
		{"ldh #ifidx\nret a", 7},
		{"ld #mark\nret a", 0xdead},
		{"ld #queue\nret a", 2},
		{"ld #hatype\nret a", 772},
		{"ld #rxhash\nret a", 0x1234},
		{"ld #cpu\nret a", 1},
		{"ld #vlan_tci\nret a", 0x0123},
		{"ld #vlan_avail\nret a", 1},
		{"ld #vlan_tpid\nret a", 0x8100},
		{"ld #poff\nret a", 34},
		{"ld #rand\nret a", 42},
		{"ld #5\nldx #3\nld [-4056]\nret a", 6}, // SKF_AD_ALU_XOR_X
		{"ld [-4032]\nret #1", 0},               // SKF_AD_OFF + 64: unknown
		{"ld #10\nldx #0\ndiv x\nret #5", 0},    // division by zero X: return 0
		{"ld #10\nldx #0\nmod x\nret #5", 0},
		{"ld #10\nldx #3\nmod x\nret a", 1},
		{"ld #10\ndiv #3\nret a", 3},
		{"ld #1\nldx #33\nlsh x\nret a", 2}, // shift by X is taken mod 32
		{"ld #4\nldx #34\nrsh x\nret a", 1},
		{"ld #1\nneg\nret a", 0xffffffff},
		{"ld #0xffffffff\nadd #2\nret a", 1},
		{"ld #3\nmul #0x80000000\nret a", 0x80000000},
		{"ld #0x80000000\njgt #0x7fffffff, yes, no\nyes: ret #1\nno: ret #2", 1}, // unsigned compare
		{"ld #5\njge #5, yes, no\nyes: ret #1\nno: ret #2", 1},
		{"ld #6\njset #1, yes, no\nyes: ret #1\nno: ret #2", 2},
		{"ld #6\nldx #6\njeq x, yes, no\nyes: ret #1\nno: ret #2", 1},
		{"ld #1\nst M[0]\nld #2\nst M[15]\nldx M[0]\nld M[15]\nadd x\nret a", 3},
		{"ja l\nret #1\nl: ret #2", 2},
		{"ret #0xffffffff", 0xffffffff},
	} {
		prog := mustAssemble(t, c.src)
		if got := Eval(prog, pkt, md); got != c.want {
			t.Errorf("%q: Eval = %#x, want %#x", c.src, got, c.want)
		}
	}
	// Without metadata, ancillary loads read zeros (vlan absent).
	if got := Eval(mustAssemble(t, "ld #vlan_avail\nadd #1\nret a"), pkt, nil); got != 1 {
		t.Errorf("nil metadata: %d", got)
	}
}

// TestEvalRobust runs programs Check refuses: Eval must return without
// panicking.
func TestEvalRobust(t *testing.T) {
	for _, prog := range [][]Instruction{
		{Stmt(OpLDImm, 1)},                        // falls off the end
		{Stmt(OpJA, 0xffffffff), Stmt(OpRetK, 1)}, // jumps past the end
		{Jump(ClassJMP|JmpJEQ, 0, 200, 200)},
		{Stmt(OpLDMem, 100), Stmt(OpRetA, 0)},
		{Stmt(OpST, 16), Stmt(OpRetA, 0)},
		{Stmt(ClassALU|AluDIV, 0), Stmt(OpRetK, 1)},
		{Stmt(ClassALU|AluLSH, 40), Stmt(OpRetK, 1)},
		{Stmt(0xffff, 0), Stmt(OpRetK, 1)},
		{Stmt(OpRetX, 0)},
		{Stmt(0x55, 0), Stmt(OpRetK, 1)},
	} {
		if got := Eval(prog, []byte{1, 2, 3}, nil); got != 0 {
			t.Errorf("Eval(%v) = %d, want 0", prog, got)
		}
	}
}

func nlattr(typ uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload)+3)
	binary.LittleEndian.PutUint16(b, uint16(4+len(payload)))
	binary.LittleEndian.PutUint16(b[2:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestNetlinkAttributes(t *testing.T) {
	// Offset 4: attrs 1 (5-byte payload, padded), nested 2 { 7, 8 }, 0x4003 (flags masked).
	var pkt []byte
	pkt = append(pkt, 0xaa, 0xbb, 0xcc, 0xdd)
	pkt = append(pkt, nlattr(1, []byte{1, 2, 3, 4, 5})...)       // at 4, len 12
	nest := append(nlattr(7, []byte{9}), nlattr(8, []byte{})...) // 8 + 4 bytes
	pkt = append(pkt, nlattr(2, nest)...)                        // at 16, inner at 20, 24
	pkt = append(pkt, nlattr(0x4003, []byte{0, 0, 0, 0})...)     // at 32
	for _, c := range []struct {
		a, x   uint32
		nested bool
		want   uint32
	}{
		{4, 1, false, 4},
		{4, 2, false, 16},
		{4, 3, false, 32},
		{4, 7, false, 0},
		{4, 9, false, 0},
		{16, 7, true, 20},
		{16, 8, true, 28},
		{16, 2, true, 0},
		{4, 1, true, 0}, // attr 1's payload is not an attribute stream with type 1
		{uint32(len(pkt)) - 3, 1, false, 0},
		{0xffffffff, 1, false, 0},
	} {
		if got := nlaFind(pkt, c.a, c.x, c.nested); got != c.want {
			t.Errorf("nlaFind(a=%d, x=%d, nested=%v) = %d, want %d", c.a, c.x, c.nested, got, c.want)
		}
	}
	prog := mustAssemble(t, "ld #4\nldx #2\nld #nla\nret a")
	if got := Eval(prog, pkt, nil); got != 16 {
		t.Errorf("ld #nla: %d", got)
	}
	prog = mustAssemble(t, "ld #16\nldx #8\nld #nlan\nret a")
	if got := Eval(prog, pkt, nil); got != 28 {
		t.Errorf("ld #nlan: %d", got)
	}
}
