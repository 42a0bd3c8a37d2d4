//go:build !linux

package main

import (
	"errors"
	"io"
	"os"

	"github.com/bpfvm/bpfvm/cbpf"
)

// Files are read into memory on systems without the Linux mapping path.
func mapFile(*os.File, int64) ([]byte, bool) { return nil, false }

func unmapFile([]byte) {}

func isTerminal(io.Writer) bool { return false }

func liveCapture(filterFlags, []cbpf.Instruction, io.Writer, io.Writer) error {
	return errors.New("live capture (-i) is only supported on Linux")
}
