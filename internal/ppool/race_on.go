//go:build race

package ppool

// raceEnabled: built with -race (the per-P slots are off).
const raceEnabled = true
