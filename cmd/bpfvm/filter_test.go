package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpfvm/bpfvm/cbpf"
	"github.com/bpfvm/bpfvm/pcapfilter"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	rc := dispatch(append([]string{"filter"}, args...), &out, &errb)
	return out.String(), errb.String(), rc
}

// testFrame builds an Ethernet/IPv4 frame with a TCP or UDP header.
func testFrame(proto byte, sport, dport uint16, dst string) []byte {
	b := make([]byte, 14+20+20)
	copy(b[0:6], []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55})
	copy(b[6:12], []byte{0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb})
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:16], net.ParseIP("10.0.0.1").To4())
	copy(ip[16:20], net.ParseIP(dst).To4())
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	if proto == 6 {
		ip[32] = 0x50
		ip[33] = 0x02
	}
	return b
}

func testFrames() [][]byte {
	var pkts [][]byte
	for i := 0; i < 50; i++ {
		proto := byte(6)
		if i%3 == 0 {
			proto = 17
		}
		pkts = append(pkts, testFrame(proto, uint16(1000+i), uint16([]int{80, 443, 53, 22}[i%4]), []string{"10.0.0.2", "1.2.3.4"}[i%2]))
	}
	return pkts
}

func writePcap(t *testing.T, path string, pkts [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(1000+i), 500), CaptureLength: len(p), Length: len(p)}
		if err := w.WritePacket(ci, p); err != nil {
			t.Fatal(err)
		}
	}
}

func writePcapng(t *testing.T, path string, pkts [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(1000+i), 0), CaptureLength: len(p), Length: len(p)}
		if err := w.WritePacket(ci, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// wantMatches counts the frames the compiled expression accepts.
func wantMatches(t *testing.T, expr string, pkts [][]byte) int {
	prog, err := pcapfilter.Compile(expr, pcapfilter.LinkTypeEthernet, pcapfilter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pkts {
		if cbpf.Eval(prog, p, nil) != 0 {
			n++
		}
	}
	return n
}

func TestFilterPrint(t *testing.T) {
	prog, err := pcapfilter.Compile("tcp port 80", pcapfilter.LinkTypeEthernet, pcapfilter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"-d": cbpf.FormatListing(prog), "-dd": cbpf.FormatC(prog), "-ddd": cbpf.FormatDecimal(prog),
	} {
		out, errs, rc := runCmd(t, flag, "tcp", "port", "80")
		if rc != 0 || out != want {
			t.Errorf("%s: rc %d, stderr %q, output\n%s\nwant\n%s", flag, rc, errs, out, want)
		}
	}
	// Flags after the expression, like tcpdump; -y changes the link type.
	out, _, rc := runCmd(t, "ip", "-d", "-y", "RAW")
	if rc != 0 || !strings.Contains(out, "ldb      [0]") {
		t.Errorf("ip -d -y RAW: rc %d\n%s", rc, out)
	}
}

func TestFilterPrintMatchesTcpdumpFormat(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump is not installed; skipping the output format comparison")
	}
	dir := t.TempDir()
	capture := filepath.Join(dir, "in.pcap")
	writePcap(t, capture, nil)
	// For programs both compile identically, the listings must be identical.
	for _, expr := range []string{"ip", "ip6", "arp", "vlan 100 and ip", "ether broadcast", "less 100"} {
		for _, flag := range []string{"-d", "-dd", "-ddd"} {
			want, err := exec.Command("tcpdump", "-r", capture, flag, expr).Output()
			if err != nil {
				t.Fatal(err)
			}
			got, errs, rc := runCmd(t, flag, "-r", capture, expr)
			if rc != 0 || got != string(want) {
				t.Errorf("%s %q: rc %d %s\ngot\n%s\ntcpdump\n%s", flag, expr, rc, errs, got, want)
			}
		}
	}
}

func TestFilterReadCountWrite(t *testing.T) {
	dir := t.TempDir()
	pkts := testFrames()
	capture := filepath.Join(dir, "in.pcap")
	writePcap(t, capture, pkts)
	ng := filepath.Join(dir, "in.pcapng")
	writePcapng(t, ng, pkts)
	for _, expr := range []string{"tcp port 80", "udp", "host 1.2.3.4 and tcp", "not ip", ""} {
		want := wantMatches(t, expr, pkts)
		for _, in := range []string{capture, ng} {
			for _, engine := range []string{"pcap", "classic", "interp", "jit"} {
				out, errs, rc := runCmd(t, "-r", in, "-c", "--engine", engine, expr)
				if engine == "jit" && strings.Contains(errs, "not available") {
					continue // the JIT needs linux/amd64
				}
				if rc != 0 || strings.TrimSpace(out) != strconv.Itoa(want) {
					t.Errorf("-c --engine %s %q on %s: rc %d stderr %q, got %q, want %d", engine, expr, filepath.Base(in), rc, errs, out, want)
				}
			}
			lines, _, _ := runCmd(t, "-r", in, expr)
			if n := strings.Count(lines, "\n"); n != want {
				t.Errorf("%q on %s: %d lines, want %d", expr, filepath.Base(in), n, want)
			}
			outFile := filepath.Join(dir, "out.pcap")
			if _, errs, rc := runCmd(t, "-r", in, "-w", outFile, expr); rc != 0 {
				t.Fatalf("-w: rc %d: %s", rc, errs)
			}
			f, err := os.Open(outFile)
			if err != nil {
				t.Fatal(err)
			}
			r, err := pcapgo.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				data, ci, err := r.ReadPacketData()
				if err != nil {
					break
				}
				idx := int(ci.Timestamp.Unix()) - 1000
				if idx < 0 || idx >= len(pkts) || !bytes.Equal(data, pkts[idx]) {
					t.Errorf("%q: written packet %d is not input packet %d", expr, n, idx)
				}
				n++
			}
			f.Close()
			if n != want {
				t.Errorf("-w %q on %s: %d packets written, want %d", expr, filepath.Base(in), n, want)
			}
		}
	}
}

// The file written with -w is byte for byte what tcpdump -w writes.
func TestFilterWriteMatchesTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump is not installed; skipping the comparison with tcpdump -w")
	}
	dir := t.TempDir()
	capture := filepath.Join(dir, "in.pcap")
	writePcap(t, capture, testFrames())
	for _, expr := range []string{"tcp port 80 or udp port 53", "dst host 1.2.3.4", "tcp[13] & 2 != 0"} {
		ours, theirs := filepath.Join(dir, "ours.pcap"), filepath.Join(dir, "theirs.pcap")
		if _, errs, rc := runCmd(t, "-r", capture, "-w", ours, expr); rc != 0 {
			t.Fatalf("rc %d: %s", rc, errs)
		}
		if out, err := exec.Command("tcpdump", "-r", capture, "-w", theirs, expr).CombinedOutput(); err != nil {
			t.Fatalf("tcpdump: %v: %s", err, out)
		}
		a, _ := os.ReadFile(ours)
		b, _ := os.ReadFile(theirs)
		if !bytes.Equal(a, b) {
			t.Errorf("%q: our -w output (%d bytes) differs from tcpdump's (%d bytes)", expr, len(a), len(b))
		}
	}
}

func TestFilterFromFile(t *testing.T) {
	dir := t.TempDir()
	pkts := testFrames()
	capture := filepath.Join(dir, "in.pcap")
	writePcap(t, capture, pkts)
	want := strconv.Itoa(wantMatches(t, "tcp port 80", pkts))
	prog, _ := pcapfilter.Compile("tcp port 80", pcapfilter.LinkTypeEthernet, pcapfilter.Options{})
	asm, err := cbpf.Disassemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"expr":    "# web traffic\ntcp\n  port 80 # only http\n",
		"listing": cbpf.FormatListing(prog),
		"c":       cbpf.FormatC(prog),
		"decimal": cbpf.FormatDecimal(prog),
		"asm":     asm,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errs, rc := runCmd(t, "-r", capture, "-c", "-F", path)
		if rc != 0 || strings.TrimSpace(out) != want {
			t.Errorf("-F %s: rc %d stderr %q: got %q, want %s", name, rc, errs, out, want)
		}
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("tcp port 99999"), 0o644)
	if _, errs, rc := runCmd(t, "-r", capture, "-F", bad); rc != 1 || !strings.Contains(errs, "99999") {
		t.Errorf("-F with a bad expression: rc %d, stderr %q", rc, errs)
	}
}

func TestFilterErrors(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "in.pcap")
	writePcap(t, capture, testFrames())
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("this is not a capture at all"), 0o644)
	cases := []struct {
		args []string
		rc   int
		msg  string
	}{
		{[]string{}, 2, "nothing to do"},
		{[]string{"-d", "tcp port 99999"}, 1, "illegal port number 99999 > 65535"},
		{[]string{"-d", "(tcp"}, 1, "syntax error"},
		{[]string{"-r", capture, "--engine", "warp", "ip"}, 2, "unknown engine"},
		{[]string{"-d", "-y", "FDDI", "ip"}, 2, "unsupported link type"},
		{[]string{"-r", filepath.Join(dir, "missing.pcap"), "ip"}, 1, "no such file"},
		{[]string{"-r", junk, "ip"}, 1, "not a pcap"},
		{[]string{"-r", capture, "-i", "lo", "ip"}, 2, "cannot be used together"},
		{[]string{"-F", junk, "ip", "-d"}, 2, "not both"},
		{[]string{"-nosuchflag"}, 2, "flag provided but not defined"},
	}
	for _, c := range cases {
		_, errs, rc := runCmd(t, c.args...)
		if rc != c.rc || !strings.Contains(errs, c.msg) {
			t.Errorf("%q: rc %d (want %d), stderr %q (want %q)", c.args, rc, c.rc, errs, c.msg)
		}
	}
	if out, _, rc := runCmd(t, "-h"); rc != 0 || !strings.Contains(out, "usage: bpfvm filter") {
		t.Errorf("-h: rc %d, %q", rc, out)
	}
}

func TestFilterLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (AF_PACKET)")
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	type result struct {
		out, errs string
		rc        int
	}
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		rc := dispatch([]string{"filter", "-i", "lo", "-n", "--limit", "3", "udp", "dst", "port", strconv.Itoa(port)}, &out, &errb)
		done <- result{out.String(), errb.String(), rc}
	}()
	send, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	other, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	deadline := time.After(10 * time.Second)
	for {
		other.Write([]byte("not this one, other port"))
		send.Write([]byte("hello"))
		select {
		case r := <-done:
			if r.rc != 0 {
				t.Fatalf("rc %d: %s", r.rc, r.errs)
			}
			lines := strings.Split(strings.TrimSpace(r.out), "\n")
			if len(lines) != 3 {
				t.Fatalf("want 3 lines, got %q", r.out)
			}
			// 14 (Ethernet) + 20 (IP) + 8 (UDP) + 5 bytes: the other port's
			// longer datagrams must have been dropped by the kernel.
			for _, l := range lines {
				if !strings.HasSuffix(l, "length 47") {
					t.Errorf("unexpected packet line %q", l)
				}
			}
			return
		case <-deadline:
			t.Fatal("live capture saw no packets in 10s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A capture spanning several read chunks, with records larger than the
// room kept between chunks: filtering with an empty expression must give
// back the input byte for byte, and counts must be exact.
func TestFilterChunkBoundaries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(1<<20, layers.LinkTypeEthernet)
	udp := 0
	for i := 0; i < 3000; i++ {
		size := 60 + (i*7919)%3000
		if i%500 == 7 {
			size = 300 << 10 // bigger than chunkRoom
		}
		p := make([]byte, size)
		copy(p, testFrame(6, 1, 2, "10.0.0.2"))
		if i%3 == 0 {
			copy(p, testFrame(17, 1, 2, "10.0.0.2"))
			udp++
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: size, Length: size}
		if err := w.WritePacket(ci, p); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	out := filepath.Join(dir, "out.pcap")
	if _, errs, rc := runCmd(t, "-r", path, "-w", out); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errs)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(out)
	if !bytes.Equal(a, b) {
		t.Fatalf("filtering with no expression changed the capture (%d bytes in, %d out)", len(a), len(b))
	}
	if out, errs, rc := runCmd(t, "-r", path, "-c", "udp"); rc != 0 || strings.TrimSpace(out) != strconv.Itoa(udp) {
		t.Fatalf("-c udp: rc %d %s: %q, want %d", rc, errs, out, udp)
	}
	// A capture cut in the middle of a record is an error.
	os.WriteFile(path, a[:len(a)-10], 0o644)
	if _, errs, rc := runCmd(t, "-r", path, "-c", "udp"); rc != 1 || !strings.Contains(errs, "truncated") {
		t.Fatalf("truncated capture: rc %d, %q", rc, errs)
	}
}

// With the default engine, len is the length on the wire, as in libpcap:
// a capture cut to a small snapshot length filters as with tcpdump.
func TestFilterWireLength(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(64, layers.LinkTypeEthernet)
	for i := 0; i < 40; i++ {
		p := testFrame(6, 1, 80, "10.0.0.2")
		wire := 54 + 20*i
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(p), Length: wire}
		w.WritePacket(ci, p)
	}
	f.Close()
	for expr, want := range map[string]string{"len > 300": "27", "greater 500": "17", "less 100": "3", "tcp and len >= 54": "40"} {
		out, errs, rc := runCmd(t, "-r", path, "-c", expr)
		if rc != 0 || strings.TrimSpace(out) != want {
			t.Errorf("%q: rc %d %s: got %q, want %s", expr, rc, errs, out, want)
		}
		if _, err := exec.LookPath("tcpdump"); err == nil {
			ours, theirs := filepath.Join(dir, "o.pcap"), filepath.Join(dir, "t.pcap")
			runCmd(t, "-r", path, "-w", ours, expr)
			if out, err := exec.Command("tcpdump", "-r", path, "-w", theirs, expr).CombinedOutput(); err != nil {
				t.Fatalf("tcpdump: %v %s", err, out)
			}
			a, _ := os.ReadFile(ours)
			b, _ := os.ReadFile(theirs)
			if !bytes.Equal(a, b) {
				t.Errorf("%q: -w output differs from tcpdump's", expr)
			}
		}
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	// A buffer is not a terminal: no bar, whatever the size.
	b := newProgressBar(&buf, 1<<40)
	b.update(1 << 39)
	b.done()
	if buf.Len() != 0 {
		t.Fatalf("progress bar drawn on a non-terminal: %q", buf.String())
	}
	b = &progressBar{w: &buf, total: 1000, on: true}
	b.update(500)
	if !strings.Contains(buf.String(), " 50%") || !strings.Contains(buf.String(), "====") {
		t.Fatalf("bar: %q", buf.String())
	}
	b.update(600) // too soon after the last drawing: skipped
	if strings.Contains(buf.String(), "60%") {
		t.Fatalf("bar redrawn too often: %q", buf.String())
	}
	b.done()
	if !strings.HasSuffix(buf.String(), "\r") {
		t.Fatalf("bar not cleared: %q", buf.String())
	}
}

// FuzzCaptureReader feeds arbitrary files to the capture reader: it must
// return packets or an error, never panic or hang.
func FuzzCaptureReader(f *testing.F) {
	dir := f.TempDir()
	for i, write := range []func(*testing.T, string, [][]byte){writePcap, writePcapng} {
		path := filepath.Join(dir, strconv.Itoa(i))
		write(&testing.T{}, path, testFrames()[:3])
		data, _ := os.ReadFile(path)
		f.Add(data)
	}
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := openCapture(path, true)
		if err != nil {
			return
		}
		defer c.Close()
		for i := 0; i < 100000; i++ {
			p, err := c.next()
			if err != nil {
				return
			}
			if len(p.data) > len(data) {
				t.Fatalf("packet of %d bytes from a %d-byte file", len(p.data), len(data))
			}
		}
		t.Fatal("no end after 100000 packets")
	})
}

func TestFilterWriteStdout(t *testing.T) {
	dir := t.TempDir()
	pkts := testFrames()
	capture := filepath.Join(dir, "in.pcap")
	writePcap(t, capture, pkts)
	want := wantMatches(t, "udp", pkts)
	out, errs, rc := runCmd(t, "-n", "-r", capture, "-w", "-", "--count", "udp")
	if rc != 0 || strings.TrimSpace(errs) != strconv.Itoa(want) {
		t.Fatalf("rc %d, count on stderr %q, want %d", rc, errs, want)
	}
	r, err := pcapgo.NewReader(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			break
		}
		n++
	}
	if n != want {
		t.Fatalf("%d packets on stdout, want %d", n, want)
	}
}
