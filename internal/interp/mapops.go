package interp

import (
	"sync/atomic"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
)

// Map helpers run inline (see engine.InlineMap). A static call of
// map_lookup_elem, map_update_elem or map_delete_elem whose r1 an lddw in
// the same basic block sets to an inline map's handle becomes one of the
// op kinds below (off: the helper index, as opCall; dst: the inline map).
// At run time each checks that r1 still is that handle and that the key
// (and value) lie where the interpreter checks quickly; otherwise it runs
// the call exactly as opCall would (the helper), so results, errors and
// the instruction count are the helper's in every case.
//
// Array lookups run inside inner (an index, a compare and an address: no
// Go call), and so do hash lookups of keys on the stack that are absent
// or, in a preallocated map, present (opMapLookupHash in inner: the value's
// address in the map's value slabs, persistent regions of the VM); the
// others run in the driver, calling the map directly instead of going
// through the helper, its map cache and Env.

// vmMap is a VM's view of an inline map: for arrays, the slab of the VM's
// CPU.
type vmMap struct {
	handle uint64
	base   uint64 // arrays: address of the slab of the VM's CPU
	stride uint64
	max    uint64 // arrays: max_entries
	slab   region // arrays: the slab as a region (to prime the caches)
	m      *engine.InlineMap
	// hashes with a table: for misses in inner (mapAbsentInner)
	buckets          unsafe.Pointer
	mask, seed, ks   uint64
	hashOff, nextOff uintptr
	// preallocated hashes (Table.HitInline): hits in inner too, the
	// value's address plus cpuOff (per-CPU: the VM's CPU's value)
	hit            bool
	lru            bool
	keyOff, valOff uintptr
	refOff         uintptr
	cpuOff         uint64
}

// mapOpKind returns the op kind a static helper call to id runs as when r1
// is statically the handle of m, or opCall.
func mapOpKind(id int32, m *engine.InlineMap) uint8 {
	switch {
	case id == engine.HelperMapLookupElem && m.Kind == engine.MapArray && m.KeySize == 4:
		return opMapLookupArray
	case id == engine.HelperMapLookupElem && m.Kind == engine.MapHash && m.Lookup != nil:
		return opMapLookupHash
	case id == engine.HelperMapUpdateElem && m.Update != nil:
		return opMapUpdate
	case id == engine.HelperMapDeleteElem && m.Delete != nil:
		return opMapDelete
	}
	return opCall
}

// inlineCalls turns the static calls of map helpers on inline maps into
// map op kinds (after decode).
func (p *Program) inlineCalls(inl engine.Inline) {
	if len(inl.Maps) == 0 {
		return
	}
	p.inline = inl.Maps[:min(len(inl.Maps), engine.MaxInlineMaps)]
	var targets []bool
	for n := range p.code {
		o := &p.code[n]
		if o.kind != opCall {
			continue
		}
		id := p.insns[n].Imm
		if id != engine.HelperMapLookupElem && id != engine.HelperMapUpdateElem && id != engine.HelperMapDeleteElem {
			continue
		}
		if targets == nil {
			targets = engine.JumpTargets(p.insns)
		}
		k := engine.StaticMapArg(p.insns, targets, n, p.inline)
		if k < 0 {
			continue
		}
		if kind := mapOpKind(id, &p.inline[k]); kind != opCall {
			o.kind, o.dst = kind, uint8(k)
		}
	}
}

// initInline builds the VM's view of the program's inline maps and makes
// the array slabs persistent regions.
func (vm *VM) initInline() {
	if len(vm.prog.inline) == 0 {
		return
	}
	vm.maps = make([]vmMap, len(vm.prog.inline))
	for k := range vm.prog.inline {
		m := &vm.prog.inline[k]
		vm.maps[k] = vmMap{handle: m.Handle, stride: m.Stride, max: uint64(m.MaxEntries), m: m}
		if t := &m.Table; m.Kind == engine.MapHash && t.Buckets != nil && (m.KeySize == 4 || m.KeySize == 8) {
			v := &vm.maps[k]
			v.buckets, v.mask, v.seed, v.ks = t.Buckets, t.Mask, t.Seed, uint64(m.KeySize)
			v.hashOff, v.nextOff = t.HashOffset, t.NextOffset
			if t.HitInline() {
				v.hit, v.lru = true, t.LRU
				v.keyOff, v.valOff, v.refOff = t.KeyOffset, t.ValueOffset, t.RefOffset
				if len(t.Values) > 0 && len(t.Values[0]) > 0 {
					p := unsafe.Pointer(unsafe.SliceData(t.Values[0]))
					v.slab = region{lo: uint64(uintptr(p)), size: uint64(len(t.Values[0])), ptr: p, writable: m.Writable}
				}
			}
		}
	}
	vm.mapsP = unsafe.Pointer(&vm.maps[0])
	vm.setMapsCPU()
	vm.addSlabRegions()
}

// addSlabRegions makes the slabs of the inline arrays persistent regions:
// a lookup hands out their addresses without exposing anything per run.
func (vm *VM) addSlabRegions() {
	for _, m := range vm.prog.inline {
		slabs := m.Slabs
		switch {
		case m.Kind == engine.MapHash && m.Table.HitInline() && (m.KeySize == 4 || m.KeySize == 8):
			// The hash's value slabs: inner hands out their addresses.
			slabs = m.Table.Values
		case m.Kind != engine.MapArray:
			continue
		}
		for _, s := range slabs {
			if len(s) > 0 {
				p := unsafe.Pointer(unsafe.SliceData(s))
				vm.persistent = append(vm.persistent, region{lo: uint64(uintptr(p)), size: uint64(len(s)), ptr: p, writable: m.Writable})
			}
		}
	}
}

// setMapsCPU points the inline arrays at the slabs of the VM's CPU.
func (vm *VM) setMapsCPU() {
	for k := range vm.maps {
		v := &vm.maps[k]
		if n := v.m.Table.NumCPU; v.hit && n > 0 {
			v.cpuOff = uint64((vm.cpu%n+n)%n) * v.m.Table.Stride // as the map's cpu()
		}
		if v.m.Kind != engine.MapArray || len(v.m.Slabs) == 0 {
			continue
		}
		s := v.m.Slabs[uint(vm.cpu)%uint(len(v.m.Slabs))]
		if len(s) == 0 {
			// An array without entries: every index is out of range.
			v.base, v.max, v.slab = 0, 0, region{}
			continue
		}
		p := unsafe.Pointer(unsafe.SliceData(s))
		v.base = uint64(uintptr(p))
		v.slab = region{lo: v.base, size: uint64(len(s)), ptr: p, writable: v.m.Writable}
	}
	vm.setChains()
}

// setChains computes the values the program's lookup chains find in the
// slabs of the VM's CPU (VM.chainVal): a group's key is a constant and an
// array's slab never moves, so its value's address is fixed for the VM.
func (vm *VM) setChains() {
	ch := vm.prog.chains
	if len(ch) == 0 {
		return
	}
	if vm.chainVal == nil {
		vm.chainVal = make([]unsafe.Pointer, len(ch))
	}
	// From the last group back: a group's entry is set only when the rest
	// of its chain (the next group's entry) is.
	for g := len(ch) - 1; g >= 0; g-- {
		o := &vm.prog.code[ch[g].pc]
		v := &vm.maps[o.src]
		vm.chainVal[g] = nil
		k := uint64(uint32(o.imm))
		if k >= v.max || v.slab.ptr == nil || (ch[g].n > 1 && vm.chainVal[g+1] == nil) {
			continue
		}
		vm.chainVal[g] = unsafe.Add(v.slab.ptr, k*v.stride)
	}
}

// SetCPU sets the CPU the VM's runs report to the inline map operations
// (the per-CPU array slab and per-CPU hash values they use); it must
// match the CPU of the helpers' state. It must not be called during a run.
func (vm *VM) SetCPU(cpu int) {
	if cpu == vm.cpu || vm.running {
		return
	}
	vm.cpu = cpu
	vm.setMapsCPU()
}

// SetPrandom gives the VM the state of get_prandom_u32's stream
// (engine.PrandomNext). The interpreter runs the helper itself, which
// advances the same state, so it only records it.
func (vm *VM) SetPrandom(state *uint64) { vm.rng = state }

// mapOp runs a map op kind in the driver at slot pc and reports whether
// it did; if not, the caller runs the helper call as opCall.
func (vm *VM) mapOp(regs *[16]uint64, in *op) bool {
	v := &vm.maps[in.dst]
	if regs[1] != v.handle {
		return false
	}
	m := v.m
	switch in.kind {
	case opMapLookupArray:
		// inner ran it unless the key lies outside the stack.
		key := vm.access(regs[2], 4, false)
		if key == nil {
			return false
		}
		regs[0] = vm.arrayLookup(v, *(*uint32)(key))
	case opMapLookupHash:
		key := vm.access(regs[2], uint64(m.KeySize), false)
		if key == nil {
			return false
		}
		val := m.Lookup(unsafe.Slice((*byte)(key), m.KeySize), vm.cpu)
		if val == nil {
			regs[0] = 0
			return true
		}
		regs[0] = vm.exposeValue(val, m.Writable)
	case opMapUpdate:
		key := vm.access(regs[2], uint64(m.KeySize), false)
		if key == nil {
			return false
		}
		val := vm.access(regs[3], uint64(m.ValueSize), false)
		if val == nil {
			return false
		}
		regs[0] = m.Update(unsafe.Slice((*byte)(key), m.KeySize), unsafe.Slice((*byte)(val), m.ValueSize), regs[4], vm.cpu)
	case opMapDelete:
		key := vm.access(regs[2], uint64(m.KeySize), false)
		if key == nil {
			return false
		}
		regs[0] = m.Delete(unsafe.Slice((*byte)(key), m.KeySize))
	default:
		return false
	}
	return true
}

// arrayLookup returns the address of element i of an inline array (0 if
// out of range) and primes the access caches with its slab, where the
// program's next access almost surely goes.
func (vm *VM) arrayLookup(v *vmMap, i uint32) uint64 {
	if uint64(i) >= v.max {
		return 0
	}
	if vm.cacheR.lo != v.slab.lo {
		vm.cacheR = v.slab
	}
	if v.slab.writable && vm.cacheW.lo != v.slab.lo {
		vm.cacheW = v.slab
	}
	return v.base + uint64(i)*v.stride
}

// exposeValue makes a map value accessible until the run ends, as the
// lookup helper does (once per run: a value already exposed among the
// last regions is not added again), primes the access caches with it and
// returns its address.
func (vm *VM) exposeValue(val []byte, writable bool) uint64 {
	p := unsafe.Pointer(unsafe.SliceData(val))
	r := region{lo: uint64(uintptr(p)), size: uint64(len(val)), ptr: p, writable: writable}
	if len(val) == 0 {
		return r.lo
	}
	found := false
	// The search is bounded: a run looking up many distinct values adds
	// a few duplicates rather than paying a quadratic search.
	for k, n := len(vm.regions)-1, 0; k >= 0 && n < 64; k, n = k-1, n+1 {
		if vm.regions[k].lo == r.lo && vm.regions[k].size == r.size && vm.regions[k].writable == writable {
			found = true
			break
		}
	}
	if !found {
		vm.regions = append(vm.regions, r)
	}
	vm.cacheR = r
	if writable {
		vm.cacheW = r
	}
	return r.lo
}

// vmMapAt returns the VM's view of inline map k without a bounds check
// (Load made k an index of the program's inline maps).
func (vm *VM) vmMapAt(k uint8) *vmMap {
	return (*vmMap)(unsafe.Add(vm.mapsP, uintptr(k)*unsafe.Sizeof(vmMap{})))
}

// bucketHead loads the first entry of the chain of hash h (inner's
// absent-key check: see opMapLookupHash there).
func (v *vmMap) bucketHead(h uint64) unsafe.Pointer {
	return atomic.LoadPointer((*unsafe.Pointer)(unsafe.Add(v.buckets, (h&v.mask)*8)))
}
