package conformance

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseData: the suite file parser never panics, and what it accepts
// can be assembled and loaded without panicking.
func FuzzParseData(f *testing.F) {
	f.Add([]byte(okProgram))
	f.Add([]byte("-- raw\n18 00 00 00 88 77 66 55\n00 00 00 00 44 33 22 11\n95 00 00 00 00 00 00 00\n-- error\n"))
	f.Add([]byte("-- raw\n0x5566778800000018\n0x1122334400000000\n149\n-- mem\nff 00 1\n-- result\n18446744073709551615\n"))
	f.Add([]byte("-- c\nint x;\n-- no register offset\ncall instruction\n-- asm\nexit\n-- result\n0x0\n"))
	if dir, ok := LocateSuite(); ok {
		for _, name := range []string{"tests/lddw.data", "tests/call_local.data", "tests/subnet.data", "negative/error.data", "negative/unused-exit-src.data"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tt, err := ParseData("fuzz", data)
		if err != nil {
			if tt != nil {
				t.Fatalf("ParseData returned a test with error %v", err)
			}
			return
		}
		if !tt.HasResult && !tt.HasError {
			t.Fatalf("accepted a file with neither result nor error")
		}
		_, _ = tt.Load()
	})
}
