package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/bpfvm/bpfvm/internal/jit"
)

// TestFilterJITBatches: --engine jit matches pcap records in batches, also
// across read chunks and records larger than the room between chunks,
// with and without len loads: its -w, -c and line outputs are the
// classic engine's.
func TestFilterJITBatches(t *testing.T) {
	if err := jit.Available(); err != nil {
		t.Skipf("the JIT does not run here: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "big.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(1<<20, layers.LinkTypeEthernet)
	for i := 0; i < 2500; i++ {
		size := 60 + (i*7919)%3000
		if i%500 == 7 {
			size = 300 << 10 // bigger than chunkRoom
		}
		p := make([]byte, size)
		switch i % 5 {
		case 0:
			copy(p, testFrame(17, 1, 2, "10.0.0.2"))
		case 1, 2:
			copy(p, testFrame(6, 1, 80, "10.0.0.2"))
		default:
			copy(p, testFrame(6, 1, 443, "10.0.0.3"))
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: size, Length: size + i%3}
		if err := w.WritePacket(ci, p); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	for _, expr := range []string{"", "tcp dst port 80", "udp or len > 2000", "greater 1500 and tcp"} {
		var args []string
		if expr != "" {
			args = []string{expr}
		}
		for _, mode := range [][]string{{"-c"}, {}, {"-w", "OUT"}} {
			var outs [2]string
			for k, engine := range []string{"classic", "jit"} {
				a := append([]string{"-r", path, "--engine", engine}, mode...)
				out := filepath.Join(dir, engine+".pcap")
				for j := range a {
					if a[j] == "OUT" {
						a[j] = out
					}
				}
				stdout, errs, rc := runCmd(t, append(a, args...)...)
				if rc != 0 {
					t.Fatalf("%v: rc %d: %s", a, rc, errs)
				}
				outs[k] = stdout
				if len(mode) == 2 {
					b, _ := os.ReadFile(out)
					outs[k] = string(b)
				}
			}
			if outs[0] != outs[1] || len(outs[0]) == 0 {
				t.Errorf("%q %v: jit output (%d bytes) differs from classic (%d bytes)", expr, mode, len(outs[1]), len(outs[0]))
			}
			if len(mode) == 1 {
				t.Logf("%q: count %s", expr, strings.TrimSpace(outs[0]))
			}
		}
	}
}
