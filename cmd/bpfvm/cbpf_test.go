package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCBPFCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	asmFile := write("ip.bpf", "ldh [12]\njeq #0x800, yes, no\nyes: ret #262144\nno: ret #0\n")
	listing := "(000) ldh      [12]\n(001) jeq      #0x800           jt 2\tjf 3\n(002) ret      #262144\n(003) ret      #0\n"
	for _, c := range []struct {
		args   []string
		status int
		out    string // expected stdout, or a substring of stderr when status != 0
	}{
		{[]string{asmFile}, 0, listing},
		{[]string{"-to", "ddd", asmFile}, 0, "4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n"},
		{[]string{"-to", "dd", write("l.txt", listing)}, 0, "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 1, 0x00000800 },\n{ 0x6, 0, 0, 0x00040000 },\n{ 0x6, 0, 0, 0x00000000 },\n"},
		{[]string{"-to", "asm", write("n.txt", "2\n6 0 0 1\n6 0 0 0\n")}, 0, "\tret #1\n\tret #0\n"},
		{[]string{write("bad.bpf", "ldh [12]\n  jeq #1, nowhere\nret #0\n")}, 1, "bad.bpf:2:11: undefined label"},
		{[]string{write("mem.bpf", "ld M[0]\nret a\n")}, 1, "M[0] may be read before it is written"},
		{[]string{"-nocheck", "-to", "dd", write("mem2.bpf", "ld M[0]\nret a\n")}, 0, "{ 0x60, 0, 0, 0x00000000 },\n{ 0x16, 0, 0, 0x00000000 },\n"},
		{[]string{"-to", "xml", asmFile}, 2, "unknown output format"},
		{[]string{asmFile, asmFile}, 2, "at most one input file"},
		{[]string{filepath.Join(dir, "missing")}, 1, "no such file"},
		{[]string{"-h"}, 0, "usage: bpfvm cbpf"},
	} {
		var stdout, stderr bytes.Buffer
		status := dispatch(append([]string{"cbpf"}, c.args...), &stdout, &stderr)
		if status != c.status {
			t.Errorf("%v: status %d, want %d (stderr %q)", c.args, status, c.status, stderr.String())
			continue
		}
		switch {
		case c.status == 0 && c.args[0] == "-h":
			if !strings.Contains(stdout.String(), c.out) {
				t.Errorf("-h: %q", stdout.String())
			}
		case c.status == 0 && stdout.String() != c.out:
			t.Errorf("%v: stdout\n%s\nwant\n%s", c.args, stdout.String(), c.out)
		case c.status != 0 && !strings.Contains(stderr.String(), c.out):
			t.Errorf("%v: stderr %q, want %q", c.args, stderr.String(), c.out)
		}
	}
}
