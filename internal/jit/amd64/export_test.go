//go:build linux && amd64

package amd64

// Code returns the generated machine code of p, for tests.
func Code(p *Program) []byte { return p.comp.code }

// FilterCode returns the generated machine code of p, for tests.
func FilterCode(p *FilterProgram) []byte { return p.comp.code }

// ReadsUnwrittenStack exposes readsUnwrittenStack to tests.
var ReadsUnwrittenStack = readsUnwrittenStack
