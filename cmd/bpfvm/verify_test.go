package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok.hex", "b700000000000000\n9500000000000000\n")
	// r0 = *(u32 *)(r1 + 1000): outside __sk_buff.
	bad := write("bad.hex", "6110e80300000000 9500000000000000")
	// A hash map lookup without a null check, then a dereference.
	mapProg := write("map.hex", strings.Join([]string{
		"7a0af8ff00000000", "bfa2000000000000", "07020000f8ffffff",
		"1811000000000000", "0000000000000000", "8500000001000000",
		"7100000000000000", "9500000000000000"}, "\n"))
	maps := write("maps.json", `[{"name":"m","type":"hash","key_size":8,"value_size":8,"max_entries":1,"insns":[3]}]`)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, ""},
		{[]string{}, 2, ""},
		{[]string{ok}, 0, "accepted"},
		{[]string{"--log", ok}, 0, "processed 2 insns"},
		{[]string{bad}, 1, "invalid bpf_context access"},
		{[]string{"--type", "nonsense", ok}, 2, ""},
		{[]string{"--maps", maps, mapProg}, 1, "map_value_or_null"},
		{[]string{filepath.Join(dir, "missing.bin")}, 2, ""},
		// ELF objects: every program, or --prog; maps and types from the object.
		{[]string{"../../testdata/loops.o"}, 0, "loops: accepted"},
		{[]string{"../../testdata/for_each.o"}, 0, "accepted"},
		{[]string{"--prog", "spin_lock", "../../testdata/spin_lock.o"}, 0, "spin_lock: accepted"},
		{[]string{"--prog", "nope", "../../testdata/loops.o"}, 2, ""},
		{[]string{"--maps", maps, "../../testdata/loops.o"}, 2, ""},
		// --type overrides the object's type: an XDP helper in a socket
		// filter is rejected, and the rejection quotes the C line.
		{[]string{"--type", "socket_filter", "../../testdata/xdp_bytes.o"}, 1, "source: ./xdp_bytes.c:20: __u32 len = bpf_xdp_get_buff_len(ctx);"},
		{[]string{write("junk.o", "\x7fELF garbage")}, 2, ""},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := runVerify(tc.args, &out, &errb)
		if code != tc.code {
			t.Errorf("verify %v: exit %d, want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out.String(), errb.String())
		}
		if tc.want != "" && !strings.Contains(out.String(), tc.want) {
			t.Errorf("verify %v: output lacks %q:\n%s", tc.args, tc.want, out.String())
		}
	}
}

// TestVerifyObjectExplicitType: a program in a section libbpf does not
// recognise is verified with the type --type gives, and refused (saying
// so) without it.
func TestVerifyObjectExplicitType(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if status := dispatch([]string{"verify", "../../testdata/legacy.o"}, &stdout, &stderr); status != 1 || !strings.Contains(stdout.String(), "--type") {
		t.Errorf("without --type: status %d, output %q", status, stdout.String())
	}
	stdout.Reset()
	if status := dispatch([]string{"verify", "--type", "xdp", "../../testdata/legacy.o"}, &stdout, &stderr); status != 0 || !strings.Contains(stdout.String(), "custom_section: accepted") {
		t.Errorf("with --type xdp: status %d, output %q, stderr %q", status, stdout.String(), stderr.String())
	}
}
