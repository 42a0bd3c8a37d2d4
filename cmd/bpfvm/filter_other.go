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

func mapFile(*os.File, int64) ([]byte, error) { return nil, errors.New("no memory mapping here") }

func unmapFile([]byte) {}

func populate([]byte) func() { return func() {} }

const canWritev = false

func writev(*os.File, [][]byte) error { return errors.New("no writev here") }
