package conformance

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// requireSuite returns the shared conformance suite folder, or skips the
// test if it is absent.
func requireSuite(t testing.TB) string {
	t.Helper()
	dir, ok := LocateSuite()
	if !ok {
		t.Skip("conformance suite not found: no shared/conformance folder above the package directory and BPFVM_CONFORMANCE unset")
	}
	return dir
}

func TestParseData(t *testing.T) {
	src := "# header\r\n" +
		"junk before any marker\n" +
		"-- asm\r\n" +
		"mov %r0, 1 # comment\n" +
		"\n" +
		"exit\n" +
		"-- mem\n" +
		"00 ff FF 1\n" +
		"0x2a\n" +
		"-- result\n" +
		"0x5\n" +
		"0xFFFFFFFFFFFFFFF6\n" +
		"-- c\n" +
		"int main() { return x--; }\n" + // "--" here is a marker upstream too
		"-- error\n" +
		"some message\n" +
		"final message # comment\n"
	_, err := ParseData("t", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "unknown directive") {
		t.Fatalf("a `--` inside a C section is a marker upstream; want an unknown-directive error, got %v", err)
	}
	src = strings.Replace(src, "x--", "x", 1)
	tt, err := ParseData("t", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if want := "\n\n\nmov %r0, 1 \n\nexit\n"; !strings.HasPrefix(tt.Asm, want) {
		t.Errorf("Asm = %q, want prefix %q (line numbers kept)", tt.Asm, want)
	}
	if !reflect.DeepEqual(tt.Mem, []byte{0, 0xff, 0xff, 1, 0x2a}) {
		t.Errorf("Mem = %x", tt.Mem)
	}
	if !tt.HasResult || tt.Result != 0xFFFFFFFFFFFFFFF6 {
		t.Errorf("Result = %#x (%v), want the last line", tt.Result, tt.HasResult)
	}
	if !tt.HasError || tt.Error != "final message" {
		t.Errorf("Error = %q (%v)", tt.Error, tt.HasError)
	}
	insns, err := tt.Program()
	if err != nil || len(insns) != 2 {
		t.Errorf("Program() = %v, %v", insns, err)
	}
}

func TestParseDataErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", "neither a result nor an error"},
		{"-- result\n0x0\n", "no instructions"},
		{"-- asm\nexit\n-- Unknown directive\n", `t:3: unknown directive "-- Unknown directive"`},
		{"-- asm\nexit\n-- result\nzz\n", `t:4: result "zz" is not an unsigned 64-bit number`},
		{"-- asm\nexit\n-- result\n-1\n", `result "-1" is not an unsigned 64-bit number`},
		{"-- asm\nexit\n-- result\n1\n-- mem\nxyz\n", `mem token "xyz" is not a hex number`},
		{"-- raw\n95 00 00\n-- result\n1\n", "raw section has 3 bytes"},
		{"-- raw\n0xzz\n-- result\n1\n", `raw token "0xzz" is not a 64-bit instruction word`},
	}
	for _, tt := range tests {
		_, err := ParseData("t", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseData(%q) error %v, want it to contain %q", tt.src, err, tt.want)
		}
	}
}

func TestParseRawForms(t *testing.T) {
	words, err := ParseData("w", []byte("-- asm\nmov %r0, 2\nexit\n-- raw\n0x5566778800000018 0x1122334400000000\n149\n-- result\n1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []isa.Instruction{{Opcode: 0x18, Imm: 0x55667788}, {Imm: 0x11223344}, {Opcode: 0x95}}
	if !reflect.DeepEqual(words.Raw, want) {
		t.Errorf("word form: %+v", words.Raw)
	}
	if got, _ := words.Program(); !reflect.DeepEqual(got, want) {
		t.Errorf("a raw section must replace the asm section, got %+v", got)
	}
	bytesForm, err := ParseData("b", []byte("-- raw\n18 00 00 00 88 77 66 55\n00 00 00 00 44 33 22 11\n95 00 00 00 00 00 00 00\n-- error\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(bytesForm.Raw, want) {
		t.Errorf("byte form: %+v", bytesForm.Raw)
	}
	if !bytesForm.HasError || bytesForm.HasResult {
		t.Errorf("an empty error section still marks an expected error")
	}
}

func TestAssembleErrorHasFileLine(t *testing.T) {
	tt, err := ParseData("x", []byte("# c\n-- asm\nmov %r0, 1\nor %r0, %r50\nexit\n-- result\n1\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tt.Program()
	if err == nil || err.Error() != `x:4:9: expected a register like %r1, got "%r50"` {
		t.Errorf("error = %v", err)
	}
}

// TestParseSuiteMatchesIndex parses all 313 suite files and checks the
// memory sizes and expected results against INDEX.tsv, written separately.
func TestParseSuiteMatchesIndex(t *testing.T) {
	suiteDir := requireSuite(t)
	f, err := os.Open(filepath.Join(suiteDir, "INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	rows, withMem, withRaw := 0, 0, 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 6 {
			t.Fatalf("bad INDEX row %q", sc.Text())
		}
		rows++
		tt, err := ParseFile(filepath.Join(suiteDir, "tests", cols[0]+".data"))
		if err != nil {
			t.Errorf("%s: %v", cols[0], err)
			continue
		}
		if n, _ := strconv.Atoi(cols[4]); len(tt.Mem) != n {
			t.Errorf("%s: %d bytes of mem, INDEX says %d", cols[0], len(tt.Mem), n)
		}
		want, err := parseResult(cols[5])
		if err != nil || !tt.HasResult || tt.Result != want {
			t.Errorf("%s: result %#x, INDEX says %s", cols[0], tt.Result, cols[5])
		}
		if len(tt.Mem) > 0 {
			withMem++
		}
		if len(tt.Raw) > 0 {
			withRaw++
			asmProg, err := ParseData("asm-only", []byte(strings.Join([]string{"-- asm", tt.Asm, "-- result", "0"}, "\n")))
			if err != nil {
				t.Fatal(err)
			}
			a, err := asmProg.Program()
			if err != nil || !reflect.DeepEqual(a, tt.Raw) {
				t.Errorf("%s: the raw section and the asm section differ: %+v vs %+v (%v)", cols[0], tt.Raw, a, err)
			}
		}
		if _, err := tt.Load(); err != nil {
			t.Errorf("%s: %v", cols[0], err)
		}
	}
	if rows != 313 || withMem != 40 || withRaw != 1 {
		t.Errorf("%d rows, %d with mem, %d with raw; want 313, 40, 1", rows, withMem, withRaw)
	}
}
