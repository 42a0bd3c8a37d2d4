package main

import "testing"

func TestFirewall(t *testing.T) {
	fw, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	bad := [4]byte{203, 0, 113, 9}
	good := [4]byte{198, 51, 100, 1}
	dst := [4]byte{192, 0, 2, 1}
	if err := fw.BlockSource(bad); err != nil {
		t.Fatal(err)
	}
	if err := fw.BlockPort(23); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src  [4]byte
		port uint16
		want uint32
	}{
		{good, 80, 2}, {bad, 80, 1}, {good, 23, 1}, {bad, 443, 1}, {good, 443, 2},
	} {
		got, err := fw.Verdict(TCPFrame(c.src, dst, c.port))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%v port %d: verdict %d, want %d", c.src, c.port, got, c.want)
		}
	}
	if n, err := fw.Drops(bad); err != nil || n != 2 {
		t.Errorf("drops from %v: %d %v, want 2", bad, n, err)
	}
	if n, err := fw.Stats(1); err != nil || n != 3 {
		t.Errorf("XDP_DROP count %d %v, want 3", n, err)
	}
	if n, err := fw.Stats(2); err != nil || n != 2 {
		t.Errorf("XDP_PASS count %d %v, want 2", n, err)
	}
	// A runt frame is refused as BPF_PROG_TEST_RUN would refuse it.
	if _, err := fw.Verdict(make([]byte, 10)); err == nil {
		t.Error("10-byte frame accepted")
	}
}
