// Package maps implements eBPF maps with the Linux kernel's semantics: the
// same types, creation checks, update flags and errors, as seen both by the
// host (the bpf() syscall side) and by programs (the helper side).
//
// Memory model: a value a program obtains through ProgLookup is a slice of
// heap memory that stays valid while anything refers to it: deleting or
// replacing the entry only unlinks it, so a pointer a running program holds
// stays valid (as the kernel's RCU guarantees) and the Go garbage collector
// frees it once nothing refers to it. As in the kernel's preallocated hash
// maps, the value a replace displaced becomes the map's spare and the next
// replace writes into it: a program holding it then reads the newer
// contents, never freed or foreign memory.
package maps

import (
	"fmt"
	"sync"
)

// Type is a map type, numbered as the kernel's enum bpf_map_type.
type Type uint32

// Map types (include/uapi/linux/bpf.h).
const (
	Unspec              Type = 0
	Hash                Type = 1
	Array               Type = 2
	ProgArray           Type = 3
	PerfEventArray      Type = 4
	PerCPUHash          Type = 5
	PerCPUArray         Type = 6
	StackTrace          Type = 7
	CgroupArray         Type = 8
	LRUHash             Type = 9
	LRUPerCPUHash       Type = 10
	LPMTrie             Type = 11
	ArrayOfMaps         Type = 12
	HashOfMaps          Type = 13
	DevMap              Type = 14
	SockMap             Type = 15
	CPUMap              Type = 16
	XSKMap              Type = 17
	SockHash            Type = 18
	CgroupStorage       Type = 19
	ReuseportSockArray  Type = 20
	PerCPUCgroupStorage Type = 21
	Queue               Type = 22
	Stack               Type = 23
	SkStorage           Type = 24
	DevMapHash          Type = 25
	StructOps           Type = 26
	RingBuf             Type = 27
	InodeStorage        Type = 28
	TaskStorage         Type = 29
	BloomFilter         Type = 30
	UserRingBuf         Type = 31
	CgrpStorage         Type = 32
	Arena               Type = 33
)

var typeNames = map[Type]string{
	Hash: "hash", Array: "array", ProgArray: "prog_array", PerfEventArray: "perf_event_array",
	PerCPUHash: "percpu_hash", PerCPUArray: "percpu_array", StackTrace: "stack_trace",
	CgroupArray: "cgroup_array", LRUHash: "lru_hash", LRUPerCPUHash: "lru_percpu_hash",
	LPMTrie: "lpm_trie", ArrayOfMaps: "array_of_maps", HashOfMaps: "hash_of_maps",
	DevMap: "devmap", SockMap: "sockmap", CPUMap: "cpumap", XSKMap: "xskmap", SockHash: "sockhash",
	CgroupStorage: "cgroup_storage", ReuseportSockArray: "reuseport_sockarray",
	PerCPUCgroupStorage: "percpu_cgroup_storage", Queue: "queue", Stack: "stack",
	SkStorage: "sk_storage", DevMapHash: "devmap_hash", StructOps: "struct_ops", RingBuf: "ringbuf",
	InodeStorage: "inode_storage", TaskStorage: "task_storage", BloomFilter: "bloom_filter",
	UserRingBuf: "user_ringbuf", CgrpStorage: "cgrp_storage", Arena: "arena",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("map_type(%d)", uint32(t))
}

// Map creation flags (map_flags), as the kernel numbers them.
const (
	FlagNoPrealloc   uint32 = 1 << 0
	FlagNoCommonLRU  uint32 = 1 << 1
	FlagNumaNode     uint32 = 1 << 2
	FlagRdonly       uint32 = 1 << 3 // read-only from the host
	FlagWronly       uint32 = 1 << 4 // write-only from the host
	FlagStackBuildID uint32 = 1 << 5
	FlagZeroSeed     uint32 = 1 << 6
	FlagRdonlyProg   uint32 = 1 << 7 // read-only from programs
	FlagWronlyProg   uint32 = 1 << 8 // write-only from programs
	FlagClone        uint32 = 1 << 9
	FlagMmapable     uint32 = 1 << 10
	FlagPreserveElem uint32 = 1 << 11
	FlagInnerMap     uint32 = 1 << 12
)

// accessFlags are the flags every map type accepts besides its own.
const accessFlags = FlagRdonly | FlagWronly | FlagRdonlyProg | FlagWronlyProg

// Update flags (the flags argument of map_update_elem).
const (
	UpdateAny     uint64 = 0 // create or replace
	UpdateNoExist uint64 = 1 // create only
	UpdateExist   uint64 = 2 // replace only
	UpdateLock    uint64 = 4 // BPF_F_LOCK: copy the value under its bpf_spin_lock
)

// Spec describes a map to create, as the fields of BPF_MAP_CREATE.
type Spec struct {
	Name       string
	Type       Type
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	// NumCPU is the number of CPUs per-CPU maps keep a value for and the
	// number of slots a PERF_EVENT_ARRAY defaults to; 0 means 1.
	NumCPU int
	// SpinLockOffset is the offset of the struct bpf_spin_lock in the value
	// (from BTF), or -1 (or any negative number) when the value has none.
	// Only then are BPF_F_LOCK updates and lookups accepted.
	SpinLockOffset int
	// InnerMap is the template of the maps an ARRAY_OF_MAPS or
	// HASH_OF_MAPS holds.
	InnerMap *Spec
	// Registry resolves the ids stored in PROG_ARRAY and map-in-map
	// values. Required for those types.
	Registry *Registry
}

// numCPU returns the effective CPU count.
func (s *Spec) numCPU() int {
	if s.NumCPU <= 0 {
		return 1
	}
	return s.NumCPU
}

// Map is a map as both the host and programs see it. All methods are safe
// for concurrent use.
//
// Host methods (Lookup, Update, Delete, NextKey, LookupAndDelete) follow
// the bpf() syscall: per-CPU maps take and return one value per CPU, each
// padded to a multiple of 8 bytes (HostValueSize), and values are copied.
//
// Program methods (Prog*) follow the helpers: per-CPU maps act on the
// value of the given CPU, and ProgLookup returns the live value memory.
type Map interface {
	// Spec returns the map's creation parameters.
	Spec() Spec
	// HostValueSize is the size of the value buffers the host methods take.
	HostValueSize() int

	// Lookup copies the value stored under key into value.
	Lookup(key, value []byte, flags uint64) error
	// Update stores value under key, with the UpdateAny/NoExist/Exist/Lock
	// flags.
	Update(key, value []byte, flags uint64) error
	// Delete removes key.
	Delete(key []byte) error
	// NextKey writes into next the key following key in the map's
	// iteration order; a nil key (or one not in the map, for hash-like
	// maps) asks for the first key. It returns ErrKeyNotExist at the end.
	NextKey(key, next []byte) error
	// LookupAndDelete copies the value of key into value and removes the
	// entry (for queues and stacks key is nil: pop).
	LookupAndDelete(key, value []byte, flags uint64) error

	// ProgLookup returns the live value of key for CPU cpu, or nil.
	ProgLookup(key []byte, cpu int) []byte
	// ProgUpdate stores value under key from a program running on cpu.
	ProgUpdate(key, value []byte, flags uint64, cpu int) error
	// ProgDelete removes key from a program.
	ProgDelete(key []byte) error
}

// New creates a map after the checks the kernel makes at BPF_MAP_CREATE.
// Errors wrap ErrInvalid (bad parameters) or ErrNotSupported (a map type
// bpfvm does not implement).
func New(spec Spec) (Map, error) {
	if spec.NumCPU < 0 {
		return nil, fmt.Errorf("%w: negative NumCPU", ErrInvalid)
	}
	switch spec.Type {
	case Hash, PerCPUHash, LRUHash, LRUPerCPUHash:
		return newHash(spec)
	case Array, PerCPUArray:
		return newArray(spec)
	case ProgArray, ArrayOfMaps:
		return newFDArray(spec)
	case PerfEventArray:
		return newPerfEventArray(spec)
	case HashOfMaps:
		return newHashOfMaps(spec)
	case Queue, Stack:
		return newQueue(spec)
	case RingBuf:
		return newRingBuf(spec)
	case LPMTrie:
		return newLPMTrie(spec)
	case DevMap, CPUMap, XSKMap, CgroupArray:
		return newRedirectMap(spec)
	case DevMapHash:
		return newDevMapHash(spec)
	case StackTrace:
		return newStackTrace(spec)
	}
	if _, known := typeNames[spec.Type]; known {
		return nil, fmt.Errorf("%w: map type %s", ErrNotSupported, spec.Type)
	}
	return nil, fmt.Errorf("%w: unknown map type %d", ErrInvalid, uint32(spec.Type))
}

// checkSizes makes the kernel's generic size checks.
func checkSizes(spec *Spec, keyAllowedZero bool) error {
	if spec.KeySize == 0 && !keyAllowedZero {
		return fmt.Errorf("%w: %s map with key size 0", ErrInvalid, spec.Type)
	}
	if spec.ValueSize == 0 {
		return fmt.Errorf("%w: %s map with value size 0", ErrInvalid, spec.Type)
	}
	if spec.MaxEntries == 0 {
		return fmt.Errorf("%w: %s map with max_entries 0", ErrInvalid, spec.Type)
	}
	return nil
}

func checkFlags(spec *Spec, allowed uint32) error {
	if spec.Flags&^(allowed|accessFlags) != 0 {
		return fmt.Errorf("%w: %s map does not accept flags %#x", ErrInvalid, spec.Type, spec.Flags&^(allowed|accessFlags))
	}
	if spec.Flags&FlagRdonlyProg != 0 && spec.Flags&FlagWronlyProg != 0 {
		return fmt.Errorf("%w: BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together", ErrInvalid)
	}
	if spec.Flags&FlagRdonly != 0 && spec.Flags&FlagWronly != 0 {
		return fmt.Errorf("%w: BPF_F_RDONLY and BPF_F_WRONLY together", ErrInvalid)
	}
	return nil
}

// checkUpdateFlags rejects flags beyond BPF_EXIST|BPF_F_LOCK, and BPF_F_LOCK
// when the value has no spin lock, as the kernel's update paths do.
func checkUpdateFlags(spec *Spec, flags uint64) error {
	if flags&^UpdateLock > UpdateExist {
		return fmt.Errorf("%w: update flags %#x", ErrInvalid, flags)
	}
	if flags&UpdateLock != 0 && spec.SpinLockOffset < 0 {
		return fmt.Errorf("%w: BPF_F_LOCK on a value without a bpf_spin_lock", ErrInvalid)
	}
	return nil
}

func checkKey(spec *Spec, key []byte) error {
	if len(key) != int(spec.KeySize) {
		return fmt.Errorf("%w: key is %d bytes, map %q has %d-byte keys", ErrInvalid, len(key), spec.Name, spec.KeySize)
	}
	return nil
}

func checkValue(m Map, value []byte) error {
	if len(value) != m.HostValueSize() {
		s := m.Spec()
		return fmt.Errorf("%w: value is %d bytes, map %q takes %d-byte values", ErrInvalid, len(value), s.Name, m.HostValueSize())
	}
	return nil
}

func roundUp8(n uint32) int { return int((n + 7) &^ 7) }

// spinLockSize is sizeof(struct bpf_spin_lock).
const spinLockSize = 4

// copyValue copies src to dst; with lock set it leaves the spin lock word
// of dst alone, as copy_map_value does for values holding special fields.
func copyValue(spec *Spec, dst, src []byte) {
	if spec.SpinLockOffset < 0 || spec.SpinLockOffset+spinLockSize > len(dst) {
		storeValue(dst, src)
		return
	}
	off := spec.SpinLockOffset
	copy(dst[:off], src[:off])
	copy(dst[off+spinLockSize:], src[off+spinLockSize:])
}

// base carries the parts every map shares.
type base struct {
	spec Spec
	mu   sync.RWMutex
}

func (b *base) Spec() Spec { return b.spec }

// unsupported provides ErrNotSupported/ErrInvalid answers for the
// operations a map type lacks, as the kernel's ops tables do.
type unsupported struct{}

func (unsupported) LookupAndDelete(key, value []byte, flags uint64) error {
	return fmt.Errorf("%w: lookup-and-delete", ErrNotSupported)
}
