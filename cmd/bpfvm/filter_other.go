//go:build !linux

package main

import (
	"errors"
	"io"
	"os"

	"github.com/bpfvm/bpfvm/cbpf"
)

func isTerminal(io.Writer) bool { return false }

func liveCapture(filterFlags, []cbpf.Instruction, io.Writer, io.Writer) error {
	return errors.New("live capture (-i) is only supported on Linux")
}

// mapping is a capture file mapped into memory: not done here.
type mapping struct{ data []byte }

func mapFile(*os.File, int64) (*mapping, error) { return nil, errors.New("no memory mapping here") }

func (m *mapping) release(int) {}

func (m *mapping) close() {}

const canWritev = false

type iovec struct{}

func writev(*os.File, [][]byte, *[]iovec) error { return errors.New("no writev here") }
