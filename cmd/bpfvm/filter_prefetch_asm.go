//go:build amd64 || arm64

package main

// prefetch asks the CPU to start loading the cache lines of p[0:n] without
// waiting for them (memory that is not mapped is skipped, not faulted).
//
//go:noescape
func prefetch(p *byte, n uintptr)
