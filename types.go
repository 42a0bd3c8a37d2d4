package bpfvm

import (
	"github.com/bpfvm/bpfvm/internal/maps"
	"github.com/bpfvm/bpfvm/internal/progtype"
)

// Program types bpfvm runs, with cilium/ebpf's names.
const (
	SocketFilter  ProgramType = progtype.SocketFilter
	Kprobe        ProgramType = progtype.Kprobe
	SchedCLS      ProgramType = progtype.SchedCLS
	SchedACT      ProgramType = progtype.SchedACT
	TracePoint    ProgramType = progtype.Tracepoint
	XDP           ProgramType = progtype.XDP
	PerfEvent     ProgramType = progtype.PerfEvent
	RawTracepoint ProgramType = progtype.RawTracepoint
	Tracing       ProgramType = progtype.Tracing
	Syscall       ProgramType = progtype.Syscall
)

// Map types, with cilium/ebpf's names.
const (
	Hash           MapType = maps.Hash
	Array          MapType = maps.Array
	ProgramArray   MapType = maps.ProgArray
	PerfEventArray MapType = maps.PerfEventArray
	PerCPUHash     MapType = maps.PerCPUHash
	PerCPUArray    MapType = maps.PerCPUArray
	LRUHash        MapType = maps.LRUHash
	LRUCPUHash     MapType = maps.LRUPerCPUHash
	LPMTrie        MapType = maps.LPMTrie
	ArrayOfMaps    MapType = maps.ArrayOfMaps
	HashOfMaps     MapType = maps.HashOfMaps
	Queue          MapType = maps.Queue
	Stack          MapType = maps.Stack
	RingBuf        MapType = maps.RingBuf
)

// Errors about programs and their input.
var (
	// ErrContextAccess: a program reads or writes its context in a way its
	// type forbids (a load error naming the instruction).
	ErrContextAccess = progtype.ErrContextAccess
	// ErrInvalidInput: Run input the kernel's BPF_PROG_TEST_RUN would
	// refuse (a runt packet, a context with fields it does not take).
	ErrInvalidInput = progtype.ErrInvalidInput
	// ErrUnsupportedType: a program type bpfvm cannot run yet.
	ErrUnsupportedType = progtype.ErrUnsupportedType
)

// RingBufReader reads a RINGBUF map's records (Map.RingBufReader), like
// cilium/ebpf's ringbuf.Reader.
type RingBufReader = maps.RingReader

// PerfReader reads a PERF_EVENT_ARRAY map's samples (Map.PerfReader), like
// cilium/ebpf's perf.Reader.
type PerfReader = maps.PerfReader

// PerfRecord is one sample or lost-sample count from a PerfReader.
type PerfRecord = maps.PerfRecord
