package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/cbpf"
)

// withoutMapping runs f with captures read by the reading goroutine
// instead of being mapped.
func withoutMapping(t *testing.T, f func(t *testing.T)) {
	t.Run("unmapped", func(t *testing.T) {
		mapCaptures = false
		defer func() { mapCaptures = true }()
		f(t)
	})
}

func TestFilterUnmapped(t *testing.T) {
	withoutMapping(t, TestFilterChunkBoundaries)
	withoutMapping(t, TestFilterWriteMatchesTcpdump)
	withoutMapping(t, TestFilterReadCountWrite)
	withoutMapping(t, TestFilterWireLength)
}

func TestFilterMapsCaptures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.pcap")
	writePcap(t, path, testFrames())
	c, err := openCapture(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.mapped == nil {
		t.Skip("captures are not mapped into memory on this system")
	}
	if c.full != nil {
		t.Fatal("a mapped capture started a reading goroutine")
	}
}

// Over a capture large enough for many vectored writes (more than maxIov
// runs), the mapped and the read paths, writing to a file (writev) or to a
// non-file writer (buffered), all give the same bytes, which are tcpdump's.
func TestFilterMappedLarge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.pcap")
	writeBigCapture(t, path, 30000)
	_, tcpdumpErr := exec.LookPath("tcpdump")
	// Release (unmap) what is done with often, with runs of matching
	// records across the release points.
	defer func(n int) { releaseStep = n }(releaseStep)
	releaseStep = 100 << 10
	for _, expr := range append(benchExprs, "", "not ip6 and not arp") {
		var outs [][]byte
		for _, mapped := range []bool{true, false} {
			mapCaptures = mapped
			file := filepath.Join(dir, "out.pcap")
			_, errs, rc := runCmd(t, "-r", path, "-w", file, expr)
			if rc != 0 {
				t.Fatalf("%q mapped=%v: rc %d: %s", expr, mapped, rc, errs)
			}
			a, _ := os.ReadFile(file)
			stdout, errs, rc := runCmd(t, "-r", path, "-w", "-", expr)
			if rc != 0 {
				t.Fatalf("%q mapped=%v -w -: rc %d: %s", expr, mapped, rc, errs)
			}
			outs = append(outs, a, []byte(stdout))
		}
		mapCaptures = true
		if tcpdumpErr == nil {
			theirs := filepath.Join(dir, "theirs.pcap")
			if out, err := exec.Command("tcpdump", "-r", path, "-w", theirs, expr).CombinedOutput(); err != nil {
				t.Fatalf("tcpdump: %v: %s", err, out)
			}
			b, _ := os.ReadFile(theirs)
			outs = append(outs, b)
		}
		if len(outs[0]) <= 24 && expr != "ip6 or arp" {
			t.Fatalf("%q: nothing matched (%d bytes)", expr, len(outs[0]))
		}
		for i := 1; i < len(outs); i++ {
			if !bytes.Equal(outs[0], outs[i]) {
				t.Errorf("%q: output %d (%d bytes) differs from output 0 (%d bytes)", expr, i, len(outs[i]), len(outs[0]))
			}
		}
	}
}

// A capture that shrinks while it is mapped is an error, not a crash.
func TestFilterMappedTruncatedUnderneath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.pcap")
	writeBigCapture(t, path, 20000)
	src, err := openCapture(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.mapped == nil {
		t.Skip("captures are not mapped into memory on this system")
	}
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	pm, err := newPacketMatcher([]cbpf.Instruction{{Op: cbpf.OpRetK}}, cbpf.EngineClassic)
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	// `ret #0` matches nothing, so -c reads every record header.
	var out, errb bytes.Buffer
	err = filterFile(filterFlags{read: path, count: true}, src, pm, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("got %v, want an error about the file being truncated", err)
	}
	t.Log(err)
}

// FuzzFilterMapped: on any file, the mapped loop and the reading goroutine
// agree (same count and same -w output, or both fail), and nothing panics.
func FuzzFilterMapped(f *testing.F) {
	dir := f.TempDir()
	for i, write := range []func(*testing.T, string, [][]byte){writePcap} {
		path := filepath.Join(dir, strconv.Itoa(i))
		write(&testing.T{}, path, testFrames()[:5])
		data, _ := os.ReadFile(path)
		f.Add(data)
		f.Add(data[:len(data)-3])
	}
	f.Add([]byte{0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, mapped := range []bool{true, false} {
			mapCaptures = mapped
			out := filepath.Join(filepath.Dir(path), "out")
			os.Remove(out)
			count, _, rc := runCmd(t, "-r", path, "-c", "tcp or len > 60")
			_, _, rc2 := runCmd(t, "-r", path, "-w", out, "tcp or len > 60")
			written, _ := os.ReadFile(out)
			if rc != 0 || rc2 != 0 {
				count, written = "", nil // which packets came before the error may differ
			}
			got = append(got, strconv.Itoa(rc)+" "+strconv.Itoa(rc2)+" "+count+" "+string(written))
		}
		mapCaptures = true
		if got[0] != got[1] {
			t.Fatalf("mapped and read captures differ:\n%q\n%q", got[0], got[1])
		}
	})
}

// -w - to a pipe: vectored writes that the pipe takes in parts (it fills
// up, the writes wait and resume), same bytes as to a file.
func TestFilterMappedToPipe(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.pcap")
	writeBigCapture(t, path, 20000)
	file := filepath.Join(dir, "out.pcap")
	if _, errs, rc := runCmd(t, "-r", path, "-w", file, "tcp"); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errs)
	}
	want, _ := os.ReadFile(file)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		var buf bytes.Buffer
		buf.ReadFrom(r)
		got <- buf.Bytes()
	}()
	var errb bytes.Buffer
	rc := dispatch([]string{"filter", "-r", path, "-w", "-", "tcp"}, w, &errb)
	w.Close()
	out := <-got
	r.Close()
	if rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	if len(want) < 1<<20 || !bytes.Equal(out, want) {
		t.Fatalf("%d bytes through the pipe, %d to the file", len(out), len(want))
	}
}

// TestFilterJITReadsNoMapping: the JIT reads packets from native code,
// where a fault on a capture truncated under us cannot become an error, so
// with --engine jit the capture is read into buffers, never mapped.
func TestFilterJITReadsNoMapping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.pcap")
	writePcap(t, path, testFrames())
	c, err := openCapture(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.mapped != nil {
		t.Fatal("openCapture mapped the file although asked not to")
	}
	var jit, pcap bytes.Buffer
	for engine, out := range map[string]*bytes.Buffer{"jit": &jit, "pcap": &pcap} {
		var stderr bytes.Buffer
		if status := dispatch([]string{"filter", "--engine", engine, "-c", "-r", path, "tcp"}, out, &stderr); status != 0 {
			t.Fatalf("%s: status %d: %s", engine, status, stderr.String())
		}
	}
	if jit.String() != pcap.String() {
		t.Errorf("jit counted %q, pcap %q", jit.String(), pcap.String())
	}
}
