//go:build !amd64 && !arm64

package main

// prefetch is a no-op where bpfvm has no prefetch instruction to use.
func prefetch(p *byte, n uintptr) {}
