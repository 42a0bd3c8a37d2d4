package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// writeBigCapture writes n varied Ethernet frames (TCP, UDP, IPv6, ARP,
// sizes 60 to 1514 bytes) to a pcap file.
func writeBigCapture(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	w.Write(hdr[:])
	r := rand.New(rand.NewPCG(9, 9))
	ports := []uint16{80, 443, 53, 22, 8080, 12345}
	buf := make([]byte, 1514)
	for i := 0; i < n; i++ {
		size := 60 + r.IntN(200)
		if r.IntN(8) == 0 {
			size = 1514
		}
		p := buf[:size]
		for j := range p {
			p[j] = 0
		}
		copy(p[0:], []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb})
		switch r.IntN(10) {
		case 0: // ARP
			binary.BigEndian.PutUint16(p[12:], 0x0806)
		case 1, 2: // IPv6 TCP
			binary.BigEndian.PutUint16(p[12:], 0x86dd)
			p[14] = 0x60
			p[20] = 6
			binary.BigEndian.PutUint16(p[54:], ports[r.IntN(len(ports))])
			binary.BigEndian.PutUint16(p[56:], ports[r.IntN(len(ports))])
		default: // IPv4 TCP or UDP
			binary.BigEndian.PutUint16(p[12:], 0x0800)
			p[14] = 0x45
			binary.BigEndian.PutUint16(p[16:], uint16(size-14))
			p[23] = []byte{6, 17}[r.IntN(2)]
			binary.BigEndian.PutUint32(p[26:], 0x0a000000|uint32(r.IntN(4)))
			binary.BigEndian.PutUint32(p[30:], 0x0a000000|uint32(r.IntN(4)))
			binary.BigEndian.PutUint16(p[34:], ports[r.IntN(len(ports))])
			binary.BigEndian.PutUint16(p[36:], ports[r.IntN(len(ports))])
		}
		var rec [16]byte
		binary.LittleEndian.PutUint32(rec[0:], uint32(1700000000+i/1000))
		binary.LittleEndian.PutUint32(rec[4:], uint32(i%1000)*1000)
		binary.LittleEndian.PutUint32(rec[8:], uint32(size))
		binary.LittleEndian.PutUint32(rec[12:], uint32(size))
		w.Write(rec[:])
		w.Write(p)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
}

var benchExprs = []string{"tcp port 80", "host 10.0.0.1 and (udp or tcp[13] & 2 != 0)", "ip6 or arp"}

// BenchmarkFilterFile measures `bpfvm filter -r FILE -w /dev/null EXPR`
// over a capture of BPFVM_BENCH_PACKETS packets (default 100000).
func BenchmarkFilterFile(b *testing.B) {
	n := 100000
	if s := os.Getenv("BPFVM_BENCH_PACKETS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "big.pcap")
	writeBigCapture(b, path, n)
	for _, expr := range benchExprs {
		b.Run(expr, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if rc := dispatch([]string{"filter", "-r", path, "-w", os.DevNull, expr}, io.Discard, io.Discard); rc != 0 {
					b.Fatalf("rc %d", rc)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/packet")
		})
	}
}

// TestFilterSpeedVsTcpdump times bpfvm filter and tcpdump over a capture of
// one million packets. It is slow, so it runs only with BPFVM_BENCH=1:
//
//	BPFVM_BENCH=1 go test ./cmd/bpfvm/ -run SpeedVsTcpdump -v
func TestFilterSpeedVsTcpdump(t *testing.T) {
	if os.Getenv("BPFVM_BENCH") == "" {
		t.Skip("set BPFVM_BENCH=1 to compare speed with tcpdump over 1,000,000 packets")
	}
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump is not installed")
	}
	exe := filepath.Join(t.TempDir(), "bpfvm")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	path := filepath.Join(t.TempDir(), "million.pcap")
	writeBigCapture(t, path, 1000000)
	// The best of five runs each, wall and CPU (user + system) time: the
	// minimum is the least disturbed by other load on the machine.
	best := func(name string, args ...string) (wall, cpu time.Duration) {
		for i := 0; i < 5; i++ {
			cmd := exec.Command(name, args...)
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, out)
			}
			w := time.Since(start)
			c := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			if wall == 0 || w < wall {
				wall = w
			}
			if cpu == 0 || c < cpu {
				cpu = c
			}
		}
		return wall, cpu
	}
	for _, expr := range benchExprs {
		ours, oursCPU := best(exe, "filter", "-r", path, "-w", os.DevNull, expr)
		theirs, theirsCPU := best("tcpdump", "-r", path, "-w", os.DevNull, expr)
		t.Logf("%-45q wall: bpfvm %v, tcpdump %v (%.1fx); cpu: bpfvm %v, tcpdump %v (%.1fx)", expr,
			ours.Round(time.Millisecond), theirs.Round(time.Millisecond), float64(theirs)/float64(ours),
			oursCPU.Round(time.Millisecond), theirsCPU.Round(time.Millisecond), float64(theirsCPU)/float64(oursCPU))
		if ours*2 > theirs {
			t.Errorf("%q: bpfvm (%v) is not at least twice as fast as tcpdump (%v)", expr, ours, theirs)
		}
	}
}
