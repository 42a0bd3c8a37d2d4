//go:build linux && amd64

package amd64_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
	"golang.org/x/sys/unix"
)

// TestFilterBatchEdges: an empty batch, too few verdicts (an error, no
// panic, nothing run), nil and empty packets (their loads end the run
// with 0), a closed program.
func TestFilterBatchEdges(t *testing.T) {
	p := loadFilter(t, "ldabsh 0\nadd %r0, 1\nexit")
	vm := p.NewVM(nil)
	if n, err := vm.RunBatch(nil, nil); n != 0 || err != nil {
		t.Errorf("empty batch: %d, %v", n, err)
	}
	v := []uint32{7, 7}
	if n, err := vm.RunBatch([][]byte{{1, 2}, {3, 4}, {5, 6}}, v); n != 0 || !errors.Is(err, amd64.ErrBatchLengths) || v[0] != 7 {
		t.Errorf("short verdicts: %d, %v, %v", n, err, v)
	}
	v = make([]uint32, 4) // longer is fine: the extra one is untouched
	v[3] = 9
	if n, err := vm.RunBatch([][]byte{nil, {1, 2}, {}}, v); n != 3 || err != nil || v[0] != 0 || v[1] != 0x103 || v[2] != 0 || v[3] != 9 {
		t.Errorf("nil packets: %d, %v, %v", n, err, v)
	}
	p.Close()
	if n, err := vm.RunBatch([][]byte{{1, 2}}, v); n != 0 || !errors.Is(err, amd64.ErrClosed) {
		t.Errorf("after Close: %d, %v", n, err)
	}
	if n, err := vm.RunBatch(nil, nil); n != 0 || err != nil {
		t.Errorf("empty batch after Close: %d, %v", n, err)
	}
}

// TestFilterBatchErrors: the batch stops at the first failing run and
// names it, with Run's error: a packet of 2 GiB or more, an access
// outside the memory; the memory holds what the runs before wrote.
func TestFilterBatchErrors(t *testing.T) {
	// 2 GiB of address space, never touched (a real mapping, so that
	// even checkptr accepts the slice).
	huge, err := unix.Mmap(-1, 0, 1<<31, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Skipf("cannot map 2 GiB of address space: %v", err)
	}
	defer unix.Munmap(huge)
	p := loadFilter(t, "ldxw %r6, [%r1+0]\nadd %r6, 1\nstxw [%r1+0], %r6\nldabsb 0\nexit")
	mem := make([]byte, 4)
	vm := p.NewVM(mem)
	v := make([]uint32, 4)
	n, err := vm.RunBatch([][]byte{{5}, {6}, huge, {8}}, v)
	_, single := vm.Run(huge)
	if n != 2 || err == nil || err.Error() != single.Error() || !strings.Contains(err.Error(), "too large") || v[0] != 5 || v[1] != 6 || v[2] != 0 || mem[0] != 2 {
		t.Errorf("RunBatch = %d, %v, %v, mem % x; want 2, %v", n, err, v, mem, single)
	}
	oob := loadFilter(t, "ldabsb 0\njeq %r0, 3, +2\nmov %r0, 1\nexit\nldxw %r0, [%r1+8]\nexit")
	n, err = oob.NewVM(make([]byte, 8)).RunBatch([][]byte{{1}, {2}, {3}, {4}}, v)
	var ie *isa.InstructionError
	if n != 2 || !errors.Is(err, engine.ErrOutOfBounds) || !errors.As(err, &ie) || ie.Index != 4 {
		t.Errorf("out-of-bounds batch: %d, %v", n, err)
	}
}

// TestFilterBatchLong: a batch longer than one native call's chunk, the
// verdicts at the chunk boundaries included.
func TestFilterBatchLong(t *testing.T) {
	p := loadFilter(t, "ldabsw 0\nexit")
	vm := p.NewVM(nil)
	pkts := make([][]byte, 10000)
	for i := range pkts {
		pkts[i] = binary.BigEndian.AppendUint32(nil, uint32(i*3+1))
	}
	v := make([]uint32, len(pkts))
	if n, err := vm.RunBatch(pkts, v); n != len(pkts) || err != nil {
		t.Fatalf("RunBatch = %d, %v", n, err)
	}
	for i, x := range v {
		if x != uint32(i*3+1) {
			t.Fatalf("verdict %d = %d, want %d", i, x, i*3+1)
		}
	}
}

// TestFilterBatchGC: batches of fresh packets while the collector runs
// continuously, from several goroutines.
func TestFilterBatchGC(t *testing.T) {
	p := loadFilter(t, "ldabsw 0\nmov %r6, %r0\nldabsb 63\nadd %r0, %r6\nstxdw [%r10-8], %r0\nldxdw %r0, [%r10-8]\nexit")
	stopGC := collectContinuously()
	var runners sync.WaitGroup
	for g := range 4 {
		runners.Add(1)
		go func() {
			defer runners.Done()
			vm := p.NewVM(nil)
			v := make([]uint32, 64)
			for k := range 300 {
				pkts := make([][]byte, 64)
				for i := range pkts {
					pkts[i] = make([]byte, 64)
					binary.BigEndian.PutUint32(pkts[i], uint32(k*g+i))
					pkts[i][63] = byte(i)
				}
				if n, err := vm.RunBatch(pkts, v); n != 64 || err != nil {
					t.Errorf("goroutine %d batch %d: %d, %v", g, k, n, err)
					return
				}
				for i, x := range v {
					if want := uint32(k*g+i) + uint32(byte(i)); x != want {
						t.Errorf("goroutine %d batch %d packet %d: %d, want %d", g, k, i, x, want)
						return
					}
				}
			}
		}()
	}
	runners.Wait()
	stopGC()
}

// TestFilterBatchNoAllocations: a batch allocates nothing.
func TestFilterBatchNoAllocations(t *testing.T) {
	vm := loadFilter(t, "ldabsh 12\nexit").NewVM(nil)
	pkts := make([][]byte, 64)
	for i := range pkts {
		pkts[i] = make([]byte, 64)
	}
	v := make([]uint32, 64)
	if n := testing.AllocsPerRun(100, func() { vm.RunBatch(pkts, v) }); n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
}

// BenchmarkFilterBatchEntry is the batch entry's cost per packet (one
// legacy load), in batches of 64.
func BenchmarkFilterBatchEntry(b *testing.B) {
	p, err := amd64.LoadFilter(assemble(b, "ldabsh 12\nexit"), amd64.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	vm := p.NewVM(nil)
	pkts := make([][]byte, 64)
	for i := range pkts {
		pkts[i] = make([]byte, 64)
	}
	v := make([]uint32, 64)
	cpu := startCPUTimer()
	b.ResetTimer()
	for done := 0; done < b.N; done += len(pkts) {
		k := min(len(pkts), b.N-done)
		if _, err := vm.RunBatch(pkts[:k], v); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu.stop().Nanoseconds())/float64(b.N), "cpu-ns/op")
}
