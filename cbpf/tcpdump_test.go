package cbpf

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type goldenProgram struct {
	link, expr string // tcpdump -y LINK expr
	d, dd, ddd string
}

func readTcpdumpGolden(t testing.TB) []goldenProgram {
	t.Helper()
	out, err := loadTcpdumpGolden()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func loadTcpdumpGolden() ([]goldenProgram, error) {
	data, err := os.ReadFile("testdata/tcpdump.golden")
	if err != nil {
		return nil, err
	}
	var out []goldenProgram
	var cur *goldenProgram
	var section *string
	for _, line := range strings.SplitAfter(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "=== "):
			link, expr, _ := strings.Cut(strings.TrimSpace(line[4:]), " ")
			out = append(out, goldenProgram{link: link, expr: expr})
			cur = &out[len(out)-1]
		case line == "--- d\n":
			section = &cur.d
		case line == "--- dd\n":
			section = &cur.dd
		case line == "--- ddd\n":
			section = &cur.ddd
		default:
			*section += line
		}
	}
	if len(out) < 30 {
		return nil, fmt.Errorf("only %d golden programs", len(out))
	}
	return out, nil
}

// TestTcpdumpGolden checks the three tcpdump formats in and out against
// tcpdump 4.99's own output (testdata/gen_tcpdump.sh), byte for byte.
func TestTcpdumpGolden(t *testing.T) {
	for _, g := range readTcpdumpGolden(t) {
		checkTcpdumpFormats(t, g)
	}
}

func checkTcpdumpFormats(t *testing.T, g goldenProgram) {
	t.Helper()
	prog, err := ParseC(g.dd)
	if err != nil {
		t.Errorf("%q: ParseC: %v", g.expr, err)
		return
	}
	if got := FormatC(prog); got != g.dd {
		t.Errorf("%q: FormatC:\n%s\nwant\n%s", g.expr, got, g.dd)
	}
	if got := FormatListing(prog); got != g.d {
		t.Errorf("%q: FormatListing:\n%s\nwant\n%s", g.expr, got, g.d)
	}
	if got := FormatDecimal(prog); got != g.ddd {
		t.Errorf("%q: FormatDecimal:\n%s\nwant\n%s", g.expr, got, g.ddd)
	}
	for name, parse := range map[string]func(string) ([]Instruction, error){
		"ParseListing": ParseListing, "ParseDecimal": ParseDecimal, "Parse(d)": Parse} {
		text := g.d
		if name == "ParseDecimal" {
			text = g.ddd
		}
		got, err := parse(text)
		if err != nil || !reflect.DeepEqual(got, prog) {
			t.Errorf("%q: %s = %v, %v; want %v", g.expr, name, got, err, prog)
		}
	}
	for _, text := range []string{g.dd, g.ddd} {
		if got, err := Parse(text); err != nil || !reflect.DeepEqual(got, prog) {
			t.Errorf("%q: Parse(%s) = %v, %v", g.expr, Detect(text), got, err)
		}
	}
	if err := Check(prog); err != nil {
		t.Errorf("%q: Check rejects tcpdump's program: %v", g.expr, err)
	}
	// bpf_asm round trip.
	src, err := Disassemble(prog)
	if err != nil {
		t.Errorf("%q: Disassemble: %v", g.expr, err)
		return
	}
	back, err := Assemble(src)
	if err != nil || !reflect.DeepEqual(back, prog) {
		t.Errorf("%q: Assemble(Disassemble) = %v, %v\nsource:\n%s", g.expr, back, err, src)
	}
}

// TestTcpdumpLive compares with the tcpdump installed on this machine,
// for the golden expressions, when there is one.
func TestTcpdumpLive(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump is not installed; the checked-in golden output is tested by TestTcpdumpGolden")
	}
	for _, g := range readTcpdumpGolden(t) {
		var outs [3]string
		for i, flag := range []string{"-d", "-dd", "-ddd"} {
			out, err := exec.Command("tcpdump", flag, "-y", g.link, g.expr).Output()
			if err != nil {
				t.Skipf("tcpdump %s %q: %v (needs root for -y without an interface?)", flag, g.expr, err)
			}
			outs[i] = string(out)
		}
		checkTcpdumpFormats(t, goldenProgram{g.link, g.expr, outs[0], outs[1], outs[2]})
	}
}

// TestImageGolden compares FormatListing's per-instruction text with
// libpcap's bpf_image for every 8-bit opcode (testdata/gen_image.py).
func TestImageGolden(t *testing.T) {
	f, err := os.Open("testdata/image.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		fields, want, _ := strings.Cut(sc.Text(), "\t")
		var v [5]uint64
		for i, s := range strings.Fields(fields) {
			v[i], _ = strconv.ParseUint(s, 10, 64)
		}
		n := int(v[0])
		ins := Instruction{Op: uint16(v[1]), Jt: uint8(v[2]), Jf: uint8(v[3]), K: uint32(v[4])}
		if got := ins.image(n); got != want {
			t.Errorf("image(%d, %#v) = %q, want %q", n, ins, got, want)
		}
		// Every line that is not "unimp" parses back to an instruction
		// with the same text (the listing drops fields it does not show,
		// like k of tax or jt/jf of non-jumps).
		if !strings.Contains(want, "unimp") {
			back, err := parseListingLine(want, n)
			if err != nil || back.image(n) != want {
				t.Errorf("parseListingLine(%q) = %#v, %v", want, back, err)
			}
			if strings.ContainsAny(want, "[#M") && !strings.Contains(want, "pktlen") && back.K != ins.K {
				t.Errorf("parseListingLine(%q).K = %#x, want %#x", want, back.K, ins.K)
			}
		}
		lines++
	}
	if lines < 3000 {
		t.Fatalf("only %d golden lines", lines)
	}
}

func TestDetect(t *testing.T) {
	for text, want := range map[string]Format{
		"{ 0x28, 0, 0, 0x0000000c },\n":             FormatTcpdumpC,
		"(000) ldh      [12]\n":                     FormatTcpdumpD,
		"1\n6 0 0 0\n":                              FormatTcpdumpN,
		"4,40 0 0 12,21 0 1 2048,6 0 0 1,6 0 0 0\n": FormatTcpdumpN,
		"; comment\n  ldh [12]\n":                   FormatAsm,
		"\n\n":                                      FormatUnknown,
	} {
		if got := Detect(text); got != want {
			t.Errorf("Detect(%q) = %v, want %v", text, got, want)
		}
	}
	prog, err := ParseDecimal("4,40 0 0 12,21 0 1 2048,6 0 0 1,6 0 0 0,")
	want := []Instruction{{Op: 0x28, K: 12}, {Op: 0x15, Jf: 1, K: 2048}, {Op: 6, K: 1}, {Op: 6}}
	if err != nil || !reflect.DeepEqual(prog, want) {
		t.Errorf("ParseDecimal(bpf_asm line) = %v, %v", prog, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		parse func(string) ([]Instruction, error)
		text  string
		want  string
	}{
		{ParseC, "{ 0x28, 0, 0 },", "1:1: expected 4 fields"},
		{ParseC, "{ 0x28, 0, 0, 0x1 },\n{ 0x10000, 0, 0, 0 },", "2:3: field 1"},
		{ParseC, "{ 0x28, 256, 0, 0 }", "field 2"},
		{ParseC, "", "no instructions"},
		{ParseDecimal, "2\n6 0 0 0\n", "count says 2"},
		{ParseDecimal, "1\n6 0 0\n", "2:1: expected 4 numbers"},
		{ParseDecimal, "1\n6 0 0 4294967296\n", "field 4"},
		{ParseListing, "(000) ldh      [12]\n(002) ret      #0\n", "2: instruction index"},
		{ParseListing, "(000) ldh [12]\n", "not in tcpdump's format"},
		{ParseListing, "(000) unimp    0x8\n", "cannot parse"},
		{ParseListing, "(000) jeq      #0x800           jt 0\tjf 1\n", "bad jump targets"},
	} {
		_, err := c.parse(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parse(%q) error = %v, want it to contain %q", c.text, err, c.want)
		}
	}
}
