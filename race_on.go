//go:build race

package bpfvm

// raceEnabled: built with -race (the pool's per-P slots are off).
const raceEnabled = true
