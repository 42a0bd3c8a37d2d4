package main

import (
	"strings"
	"testing"
)

// TestEveryCommandHelp: `bpfvm CMD -h` prints CMD's usage once, to
// stdout, nothing to stderr, and exits 0, for every subcommand.
func TestEveryCommandHelp(t *testing.T) {
	if len(commands) == 0 {
		t.Fatal("no subcommands registered")
	}
	for name := range commands {
		status, out, errOut := runCLI(name, "-h")
		if status != 0 {
			t.Errorf("%s -h: status %d, want 0", name, status)
		}
		if n := strings.Count(out, "usage: bpfvm "); n != 1 {
			t.Errorf("%s -h: usage printed %d times on stdout, want once:\n%s", name, n, out)
		}
		if errOut != "" {
			t.Errorf("%s -h: wrote to stderr: %q", name, errOut)
		}
	}
}
