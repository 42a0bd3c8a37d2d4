//go:build linux && amd64

package bpfvm

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestKtimeEnginesOneClock reads bpf_ktime_get_ns (in microseconds)
// through the interpreter (the Go helper), the JIT (which reads
// CLOCK_MONOTONIC itself through the vDSO) and the interpreter again: the
// three readings must be in order, so both engines use one clock.
func TestKtimeEnginesOneClock(t *testing.T) {
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"ktime": {
			Name:    "ktime",
			Type:    ebpf.XDP,
			License: "GPL",
			Instructions: asm.Instructions{
				asm.FnKtimeGetNs.Call(),
				asm.RSh.Imm(asm.R0, 10),
				asm.Return(),
			},
		},
	}}
	run := func(e Engine) uint32 {
		c, err := NewRuntime(WithEngine(e)).LoadCollection(spec)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		v, err := c.Programs["ktime"].Run(&RunOptions{Data: make([]byte, 64)})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := 0; i < 20; i++ {
		a, b, c := run(Interpreter), run(JIT), run(Interpreter)
		if a > b || b > c {
			t.Fatalf("interpreter %d µs, JIT %d µs, interpreter %d µs: not one clock", a, b, c)
		}
	}
}
