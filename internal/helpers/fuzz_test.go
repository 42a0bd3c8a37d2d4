package helpers

import "testing"

// FuzzFormat drives the bpf_trace_printk/bpf_snprintf formatter: any
// format either formats or is refused with an errno, never panics.
func FuzzFormat(f *testing.F) {
	for _, s := range []string{"%d %u %x", "%5d|%-3lu|%llx", "%s %c %%", "%pI4 %pi6 %px", "%", "%l", "%0+- 9lld"} {
		f.Add(s, uint64(1), uint64(0xffffffff), uint64(1<<63))
	}
	s := NewState(&Host{}, 0)
	f.Fuzz(func(t *testing.T, format string, a, b, c uint64) {
		out, e := s.format(&memEnv{buf: make([]byte, 8)}, format, []uint64{a, b, c})
		if e != 0 && out != "" {
			t.Fatalf("error %d with output %q", e, out)
		}
	})
}

// FuzzStrtoull checks the parser against its own invariants.
func FuzzStrtoull(f *testing.F) {
	for _, s := range []string{"123", " -0x1f", "077", "99999999999999999999", "", "abc"} {
		f.Add([]byte(s), uint64(0))
		f.Add([]byte(s), uint64(16))
	}
	f.Fuzz(func(t *testing.T, buf []byte, flags uint64) {
		n, _, _, e := strtoull(buf, flags)
		if e == 0 && (n <= 0 || n > len(buf)) {
			t.Fatalf("consumed %d of %d bytes", n, len(buf))
		}
	})
}
