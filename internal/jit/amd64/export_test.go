//go:build linux && amd64

package amd64

// Code returns the generated machine code of p, for tests.
func Code(p *Program) []byte { return p.comp.code }
