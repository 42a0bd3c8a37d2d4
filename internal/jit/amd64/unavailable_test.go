//go:build !(linux && amd64)

package amd64

import (
	"errors"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

func TestUnavailable(t *testing.T) {
	_, err := Load([]isa.Instruction{{Opcode: isa.OpcodeExit}}, Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Load on a platform without the JIT: %v, want ErrUnavailable", err)
	}
}
