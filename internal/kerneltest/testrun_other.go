//go:build !linux

package kerneltest

import "fmt"

func (p *Program) run(RunInput) (Result, error) {
	return Result{}, fmt.Errorf("%w: BPF_PROG_TEST_RUN needs Linux", ErrUnavailable)
}
