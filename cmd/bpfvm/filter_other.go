//go:build !linux

package main

import (
	"errors"
	"io"

	"github.com/bpfvm/bpfvm/cbpf"
)

func isTerminal(io.Writer) bool { return false }

func liveCapture(filterFlags, []cbpf.Instruction, io.Writer, io.Writer) error {
	return errors.New("live capture (-i) is only supported on Linux")
}
