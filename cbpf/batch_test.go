package cbpf

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"
)

// TestMatchBatchEdges: on every engine, an empty batch, mismatched slice
// lengths (an error, nothing run, no panic), nil packets.
func TestMatchBatchEdges(t *testing.T) {
	prog := mustAssemble(t, "ldh [12]\nadd #1\nret a")
	for _, e := range testEngines {
		f, err := NewFilter(prog, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		m := f.NewMatcher()
		for _, batch := range []func([][]byte, []uint32, []uint32) error{m.MatchBatch, f.MatchBatch} {
			if err := batch(nil, nil, nil); err != nil {
				t.Errorf("%v: empty batch: %v", e, err)
			}
			if err := batch([][]byte{}, []uint32{}, []uint32{}); err != nil {
				t.Errorf("%v: empty batch with wire lengths: %v", e, err)
			}
			v := []uint32{7, 7}
			for _, c := range []struct {
				pkts     [][]byte
				wire, vs []uint32
			}{
				{[][]byte{nil, nil, nil}, nil, v},
				{[][]byte{nil}, nil, v},
				{[][]byte{nil, nil}, []uint32{1}, v},
				{[][]byte{nil, nil}, []uint32{1, 2, 3}, v},
			} {
				if err := batch(c.pkts, c.wire, c.vs); !errors.Is(err, ErrBatchLengths) || v[0] != 7 || v[1] != 7 {
					t.Errorf("%v: %d packets, %d wire lengths, %d verdicts: %v (verdicts %v)", e, len(c.pkts), len(c.wire), len(c.vs), err, v)
				}
			}
			pkt := make([]byte, 14)
			pkt[13] = 4
			v = []uint32{7, 7, 7, 7}
			if err := batch([][]byte{nil, pkt, {}, pkt[:13]}, nil, v); err != nil || v[0] != 0 || v[1] != 5 || v[2] != 0 || v[3] != 0 {
				t.Errorf("%v: nil and short packets: %v, %v", e, err, v)
			}
		}
		m.Close()
		f.Close()
	}
}

// TestMatchBatchGC: batches of fresh packets on every engine while the
// collector runs continuously.
func TestMatchBatchGC(t *testing.T) {
	stop := make(chan struct{})
	var gc sync.WaitGroup
	gc.Add(1)
	go func() {
		defer gc.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	var wg sync.WaitGroup
	for _, e := range testEngines {
		f, err := NewFilter(httpProgram, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := f.NewMatcher()
			defer m.Close()
			v := make([]uint32, 64)
			for k := range 200 {
				pkts := make([][]byte, 64)
				for i := range pkts {
					port := uint16(80)
					if (i+k)%3 == 0 {
						port = uint16(k)
					}
					pkts[i] = tcpFrame(port, 5, 0)
				}
				if err := m.MatchBatch(pkts, nil, v); err != nil {
					t.Errorf("%v: batch %d: %v", e, k, err)
					return
				}
				for i, x := range v {
					want := uint32(0)
					if binary.BigEndian.Uint16(pkts[i][36:]) == 80 {
						want = 262144
					}
					if x != want {
						t.Errorf("%v: batch %d packet %d: %d, want %d", e, k, i, x, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	gc.Wait()
}
