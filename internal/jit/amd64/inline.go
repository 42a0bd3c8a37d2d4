//go:build linux && amd64

package amd64

import (
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Inline helpers (Options.Inline): array lookups, hash lookups (misses;
// hits of preallocated maps: see emitHashMiss) and get_prandom_u32 run in
// generated code, without an exit to Go.
//
// A static map_lookup_elem whose r1 an lddw in the same basic block sets
// to an inline array's handle compiles to: a guard (r1 is still that
// handle, the key lies in the live stack frames), the index load, the
// bounds check and the address computation, r0 = slab + i*stride or 0.
// Anything the guard refuses takes the helper's full exit, emitted right
// after, so results and errors stay the helper's. The slab of the VM's
// CPU (SetCPU) is in the run context, with its description as an inline
// region: the lookup installs it in the extra-region slot its access
// uses when the slot holds another region (two compares when it does
// not), so the access to the value needs no exit either. The slabs are
// persistent regions of every VM, so nothing is exposed per run.
//
// get_prandom_u32 is engine.PrandomNext on the state SetPrandom gave the
// VM (the helpers' own state, so the stream is one whichever engine or
// path advances it): a splitmix64 step in rax and r11.

// maxInlineArrays bounds the arrays a program's code inlines (their slabs
// live in the run context); lookups in others call the helper.
const maxInlineArrays = 8

// inlineState is the part of the run context the inline helpers read.
type inlineState struct {
	rng    uint64    // address of the get_prandom_u32 state, 0: none
	mul    [2]uint64 // splitmix64's multipliers (imul takes no imm64)
	ktime  ktimeState
	arrays [maxInlineArrays]inlineArray
	hashes [maxInlineHashes]inlineHash
}

// inlineHash is one hash map whose absent keys the code recognises, and,
// preallocated, whose hits it returns.
type inlineHash struct {
	buckets uint64 // address of the bucket table
	seed    uint64
	tmp     uint64 // the key's hash while the code compares a key
	cpuOff  uint64 // per-CPU maps: offset of the VM's CPU's value
	// The first value slab (a persistent region), as bounds and as an
	// inline region a hit installs in its extra-region slot.
	slabLo, slabHi uint64
	slab           region
}

// maxInlineHashes bounds the hash maps whose misses the code decides.
const maxInlineHashes = 8

// inlineArray is one inlined array's slab for the VM's CPU.
type inlineArray struct {
	base uint64 // address of the slab
	slab region // the slab as an inline region
}

var (
	offInline     = int32(unsafe.Offsetof(runContext{}.inline))
	offRng        = offInline + int32(unsafe.Offsetof(inlineState{}.rng))
	offMul        = offInline + int32(unsafe.Offsetof(inlineState{}.mul))
	offArrays     = offInline + int32(unsafe.Offsetof(inlineState{}.arrays))
	sizeArray     = int32(unsafe.Sizeof(inlineArray{}))
	offArraySlab  = int32(unsafe.Offsetof(inlineArray{}.slab))
	offArrayBase  = int32(unsafe.Offsetof(inlineArray{}.base))
	offHashes     = offInline + int32(unsafe.Offsetof(inlineState{}.hashes))
	sizeHash      = int32(unsafe.Sizeof(inlineHash{}))
	offBuckets    = int32(unsafe.Offsetof(inlineHash{}.buckets))
	offSeed       = int32(unsafe.Offsetof(inlineHash{}.seed))
	offHashTmp    = int32(unsafe.Offsetof(inlineHash{}.tmp))
	offHashCPU    = int32(unsafe.Offsetof(inlineHash{}.cpuOff))
	offHashSlabLo = int32(unsafe.Offsetof(inlineHash{}.slabLo))
	offHashSlabHi = int32(unsafe.Offsetof(inlineHash{}.slabHi))
	offHashSlab   = int32(unsafe.Offsetof(inlineHash{}.slab))
	splitmixMul   = [2]uint64{0xbf58476d1ce4e5b9, 0x94d049bb133111eb}
	splitmixGamma = uint64(0x9e3779b97f4a7c15)
)

// arraySlots returns, for each of the first maxInlineArrays array maps of
// maps, its index in maps: slot s of the run context holds maps[slots[s]].
func arraySlots(maps []engine.InlineMap) []int {
	var slots []int
	for k, m := range maps {
		if len(slots) < maxInlineArrays && k < engine.MaxInlineMaps && m.Kind == engine.MapArray && m.KeySize == 4 && len(m.Slabs) > 0 && m.Stride < 1<<31 {
			slots = append(slots, k)
		}
	}
	return slots
}

// hashSlots returns, for each of the first maxInlineHashes hash maps of
// maps with a bucket table, its index in maps.
func hashSlots(maps []engine.InlineMap) []int {
	var slots []int
	for k, m := range maps {
		t := &m.Table
		if len(slots) < maxInlineHashes && k < engine.MaxInlineMaps && m.Kind == engine.MapHash && t.Buckets != nil &&
			(m.KeySize == 4 || m.KeySize == 8) && t.Mask < 1<<31 && t.HashOffset < 1<<31 && t.NextOffset < 1<<31 &&
			t.KeyOffset < 1<<31 && t.ValueOffset < 1<<31 && t.RefOffset < 1<<31 {
			slots = append(slots, k)
		}
	}
	return slots
}

// emitInlineCall emits the inline form of the static helper call at slot
// i, with the helper's exit as its fallback, and reports whether it did.
func (c *compiler) emitInlineCall(i int) bool {
	inl := &c.opts.Inline
	switch c.insns[i].Imm {
	case engine.HelperMapLookupElem:
		if len(inl.Maps) == 0 {
			return false
		}
		if c.targets == nil {
			c.targets = engine.JumpTargets(c.insns)
			c.slots = arraySlots(inl.Maps)
		}
		k := engine.StaticMapArg(c.insns, c.targets, i, inl.Maps)
		for s, mk := range c.slots {
			if mk == k {
				c.emitArrayLookup(i, &inl.Maps[k], s)
				return true
			}
		}
		for s, mk := range hashSlots(inl.Maps) {
			if mk == k {
				c.emitHashMiss(i, &inl.Maps[k], s)
				return true
			}
		}
	case engine.HelperKtimeGetNs:
		if inl.Ktime && vdsoClockGettime() != 0 {
			c.emitKtime(i, vdsoClockGettime())
			return true
		}
	case engine.HelperGetPrandomU32:
		if inl.Prandom {
			c.emitPrandom(i)
			return true
		}
	}
	return false
}

// emitArrayLookup emits the lookup of the array m, in slot s of the run
// context, at the call in slot i.
func (c *compiler) emitArrayLookup(i int, m *engine.InlineMap, s int) {
	e := &c.e
	generic, null, done, install, back := e.newLabel(), e.newLabel(), e.newLabel(), e.newLabel(), e.newLabel()
	r1, r2 := xreg[isa.R1], xreg[isa.R2]
	// r1 must still be the map (another path may have set it).
	e.movImm64(scratchReg, m.Handle)
	e.aluStore(aluCMP, s64, direct(r1), scratchReg)
	e.jcc(condNE, generic)
	// The key (4 bytes at r2) in the live stack frames: its end address
	// within the stack region, as emitCheck tests it.
	stack := offRegions + regionStack*sizeRegion
	e.lea(scratchReg, mem(r2, 4))
	e.aluLoad(aluCMP, s64, scratchReg, ctxField(stack+8*sizeIndex(4)))
	e.jcc(condB, generic)
	e.aluLoad(aluCMP, s64, scratchReg, ctxField(stack+offRegionHi))
	e.jcc(condA, generic)
	e.load(s32, scratchReg, mem(scratchReg, -4))
	// Unsigned 32-bit compare: max_entries may exceed 2^31. The map's
	// sizes come from the program's object: blinded like its immediates
	// (rax is free until the result).
	if c.opts.BlindConstants {
		c.blindedImm(s32, rax, int32(m.MaxEntries))
		e.aluStore(aluCMP, s32, direct(scratchReg), rax)
	} else {
		e.aluImm(aluCMP, s32, direct(scratchReg), int32(m.MaxEntries))
	}
	e.jcc(condAE, null)
	switch {
	case c.opts.BlindConstants:
		c.blindedImm(s64, rax, int32(m.Stride))
		e.imul(s64, scratchReg, rax)
	case m.Stride != 1:
		e.imulImm(s64, scratchReg, scratchReg, int32(m.Stride))
	}
	slot := offArrays + int32(s)*sizeArray
	e.aluLoad(aluADD, s64, scratchReg, ctxField(slot+offArrayBase))
	// Make the slab the extra region its accesses check, if it is not
	// and some access is checked. The slot's end address identifies it:
	// a region with the same end and another start holds (part of) the
	// same slab, whose accesses a miss sends to Go, which finds the slab.
	extra := regionExtraR
	if m.Writable {
		extra = regionExtraW
	}
	ro := offRegions + int32(extra)*sizeRegion
	if !c.allProven() {
		e.load(s64, rax, ctxField(slot+offArraySlab+offRegionHi))
		e.aluLoad(aluCMP, s64, rax, ctxField(ro+offRegionHi))
		e.jcc(condNE, install)
	}
	e.bind(back)
	e.mov(s64, rax, scratchReg)
	e.jmp(done)
	e.bind(null)
	e.aluStore(aluXOR, s32, direct(rax), rax)
	e.jmp(done)
	c.coldInstallRegion(install, slot+offArraySlab, ro, rax, back)
	e.bind(generic)
	c.emitHelperCall(i)
	e.bind(done)
}

// coldInstallRegion emits, out of line at install, the copy of the
// region at context offset from into the region slot at ro (through tmp),
// then a jump to back: an inline lookup's slab becomes the region the
// program's next accesses check against.
func (c *compiler) coldInstallRegion(install label, from, ro int32, tmp reg, back label) {
	e := &c.e
	c.cold = append(c.cold, func() {
		e.bind(install)
		for w := int32(0); w < sizeRegion; w += 8 {
			e.load(s64, tmp, ctxField(from+w))
			e.store(s64, ctxField(ro+w), tmp)
		}
		e.jmp(back)
	})
}

// emitHashMiss emits the lookup of the hash map m, in hash slot s of the
// run context, at the call in slot i: when r1 is the map, the key lies in
// the live stack frames and no entry of its bucket's chain has its key,
// r0 = 0 without leaving the code; in a preallocated map an entry with the
// key gives r0 = its value's address (emitHashHit); anything else (a hit
// without preallocation included) takes the helper's exit. The chain is read as the map's own lookups read it,
// without locks (entries are published fully built). The code holds entry
// pointers only in scratch registers within this sequence: an entry
// unlinked meanwhile was shaded by the write barrier of its unlinking, and
// no later GC cycle can end before this goroutine leaves the code.
func (c *compiler) emitHashMiss(i int, m *engine.InlineMap, s int) {
	e := &c.e
	generic, done, loop := e.newLabel(), e.newLabel(), e.newLabel()
	r1, r2 := xreg[isa.R1], xreg[isa.R2]
	ks := int32(m.KeySize)
	e.movImm64(scratchReg, m.Handle)
	e.aluStore(aluCMP, s64, direct(r1), scratchReg)
	e.jcc(condNE, generic)
	stack := offRegions + regionStack*sizeRegion
	e.lea(scratchReg, mem(r2, ks))
	e.aluLoad(aluCMP, s64, scratchReg, ctxField(stack+8*sizeIndex(int(ks))))
	e.jcc(condB, generic)
	e.aluLoad(aluCMP, s64, scratchReg, ctxField(stack+offRegionHi))
	e.jcc(condA, generic)
	// rax = Mix64(key ^ seed)
	slot := offHashes + int32(s)*sizeHash
	e.load(int(ks), rax, mem(scratchReg, -ks))
	e.aluLoad(aluXOR, s64, rax, ctxField(slot+offSeed))
	for k, shift := range []uint8{30, 27, 31} {
		e.mov(s64, scratchReg, rax)
		e.shiftImm(shSHR, s64, scratchReg, shift)
		e.aluStore(aluXOR, s64, direct(rax), scratchReg)
		if k < 2 {
			e.op(s64, []byte{0x0f, 0xaf}, rax, ctxField(offMul+8*int32(k))) // imul rax, [mul]
		}
	}
	// r11 = the chain's first entry: buckets[h & mask].
	e.mov(s64, scratchReg, rax)
	e.aluImm(aluAND, s64, direct(scratchReg), int32(m.Table.Mask))
	e.shiftImm(shSHL, s64, scratchReg, 3)
	e.aluLoad(aluADD, s64, scratchReg, ctxField(slot+offBuckets))
	e.load(s64, scratchReg, mem(scratchReg, 0))
	e.bind(loop)
	e.test(s64, scratchReg, scratchReg)
	e.jcc(condE, done) // absent: rax = 0 below
	e.aluLoad(aluCMP, s64, rax, mem(scratchReg, int32(m.Table.HashOffset)))
	after := e.newLabel()
	if !m.Table.HitInline() {
		e.jcc(condE, generic) // maybe the key: the helper looks it up
	} else {
		next := e.newLabel()
		e.jcc(condNE, next)
		c.emitHashHit(m, slot, next, after)
		e.bind(next)
	}
	e.load(s64, scratchReg, mem(scratchReg, int32(m.Table.NextOffset)))
	e.jmp(loop)
	e.bind(generic)
	c.emitHelperCall(i)
	e.jmp(after)
	e.bind(done)
	e.aluStore(aluXOR, s32, direct(rax), rax)
	e.bind(after)
}

// emitHashHit emits the end of a preallocated hash map's lookup (slot:
// its inlineHash in the run context) at an entry with the key's hash
// (r11; rax the hash, r2 the key on the stack): when the entry's key is
// the key, r0 = the value's address (of the VM's CPU, per-CPU) and the
// code goes to hit, after setting an LRU entry's reference bit and
// making the first value slab the extra region the value's accesses
// check; otherwise rax is the hash again and the code goes to next. The
// value lives in the map's slabs for the map's whole life (persistent
// regions of the VM), so nothing is exposed per run.
func (c *compiler) emitHashHit(m *engine.InlineMap, slot int32, next, hit label) {
	e := &c.e
	t := &m.Table
	ks := int(m.KeySize)
	other := e.newLabel()
	e.store(s64, ctxField(slot+offHashTmp), rax)
	e.load(s64, rax, mem(scratchReg, int32(t.KeyOffset))) // the key's bytes
	e.load(ks, rax, mem(rax, 0))
	e.aluLoad(aluCMP, ks, rax, mem(xreg[isa.R2], 0))
	e.jcc(condNE, other)
	if t.LRU {
		set := e.newLabel()
		e.aluImm(aluCMP, s32, mem(scratchReg, int32(t.RefOffset)), 0)
		e.jcc(condNE, set)
		e.storeImm(s32, mem(scratchReg, int32(t.RefOffset)), 1)
		e.bind(set)
	}
	e.load(s64, rax, mem(scratchReg, int32(t.ValueOffset)))
	if t.NumCPU > 0 {
		e.aluLoad(aluADD, s64, rax, ctxField(slot+offHashCPU))
	}
	if !c.allProven() {
		// In the first slab and not yet the extra region: install it.
		// Values in other slabs are found by Go on their first access.
		extra := regionExtraR
		if m.Writable {
			extra = regionExtraW
		}
		ro := offRegions + int32(extra)*sizeRegion
		install := e.newLabel()
		e.aluLoad(aluCMP, s64, rax, ctxField(slot+offHashSlabLo))
		e.jcc(condB, hit)
		e.aluLoad(aluCMP, s64, rax, ctxField(slot+offHashSlabHi))
		e.jcc(condAE, hit)
		e.load(s64, scratchReg, ctxField(slot+offHashSlabHi))
		e.aluLoad(aluCMP, s64, scratchReg, ctxField(ro+offRegionHi))
		e.jcc(condNE, install)
		c.coldInstallRegion(install, slot+offHashSlab, ro, scratchReg, hit)
	}
	e.jmp(hit)
	e.bind(other)
	e.load(s64, rax, ctxField(slot+offHashTmp))
	e.jmp(next)
}

// allProven reports whether the verifier proved every load, store and
// atomic of the program that is not a constant offset from r10: then no
// access needs the inline regions of map values.
func (c *compiler) allProven() bool {
	if c.proven != 0 {
		return c.proven > 0
	}
	c.proven = 1
	for i := 0; i < len(c.insns); i++ {
		in := c.insns[i]
		if in.IsLDDW() {
			i++
			continue
		}
		base, off := in.Dst, int(in.Offset)
		switch in.Class() {
		case isa.ClassLDX:
			base = in.Src
		case isa.ClassST, isa.ClassSTX:
		default:
			continue
		}
		atomic := in.Class() == isa.ClassSTX && in.Mode() == isa.ModeATOMIC
		if !atomic && base == isa.R10 && off >= -isa.StackSize && off+isa.SizeBytes(in.Size()) <= 0 {
			continue // emitAccess checks nothing
		}
		if !c.opts.proven(i) {
			c.proven = -1
			break
		}
	}
	return c.proven > 0
}

// emitPrandom emits get_prandom_u32 (engine.PrandomNext) on the VM's
// state, or the helper's exit when the VM has none.
func (c *compiler) emitPrandom(i int) {
	e := &c.e
	generic, done := e.newLabel(), e.newLabel()
	e.load(s64, scratchReg, ctxField(offRng))
	e.test(s64, scratchReg, scratchReg)
	e.jcc(condE, generic)
	e.movImm64(rax, splitmixGamma)
	e.aluLoad(aluADD, s64, rax, mem(scratchReg, 0))
	e.store(s64, mem(scratchReg, 0), rax)
	for k, shift := range []uint8{30, 27, 31} {
		e.mov(s64, scratchReg, rax)
		e.shiftImm(shSHR, s64, scratchReg, shift)
		e.aluStore(aluXOR, s64, direct(rax), scratchReg)
		if k < 2 {
			e.op(s64, []byte{0x0f, 0xaf}, rax, ctxField(offMul+8*int32(k))) // imul rax, [mul]
		}
	}
	e.mov(s32, rax, rax) // the helper returns a u32
	e.jmp(done)
	e.bind(generic)
	c.emitHelperCall(i)
	e.bind(done)
}

// initInline sets up the VM's inline state: the multipliers, the slabs of
// CPU 0, and the slabs as persistent regions.
func (vm *VM) initInline() {
	vm.ctx.inline.mul = splitmixMul
	vm.initKtime()
	for s := range vm.ctx.inline.arrays {
		setRegion(&vm.ctx.inline.arrays[s].slab, 0, 0)
	}
	vm.setArraysCPU()
	vm.addSlabRegions()
	maps := vm.p.inline.Maps
	for s, k := range hashSlots(maps) {
		t := &maps[k].Table
		h := &vm.ctx.inline.hashes[s]
		*h = inlineHash{buckets: uint64(uintptr(t.Buckets)), seed: t.Seed}
		setRegion(&h.slab, 0, 0)
		if t.HitInline() && len(t.Values) > 0 {
			h.slabLo = addrOf(t.Values[0])
			h.slabHi = h.slabLo + uint64(len(t.Values[0]))
			setSliceRegion(&h.slab, t.Values[0])
		}
	}
	vm.setHashesCPU()
}

// setHashesCPU points the inline per-CPU hash hits at the VM's CPU's
// values (as the map's own lookups pick them).
func (vm *VM) setHashesCPU() {
	maps := vm.p.inline.Maps
	for s, k := range hashSlots(maps) {
		if t := &maps[k].Table; t.NumCPU > 0 {
			n := t.NumCPU
			vm.ctx.inline.hashes[s].cpuOff = uint64((vm.cpu%n+n)%n) * t.Stride
		}
	}
}

// addSlabRegions makes the slabs of the inlined arrays persistent
// regions (the lookup hands out their addresses).
func (vm *VM) addSlabRegions() {
	maps := vm.p.inline.Maps
	add := func(slabs [][]byte, writable bool) {
		for _, s := range slabs {
			if len(s) > 0 {
				lo := addrOf(s)
				vm.persistent = append(vm.persistent, extraRegion{lo: lo, hi: lo + uint64(len(s)), b: s, writable: writable})
			}
		}
	}
	for _, k := range vm.p.slots {
		add(maps[k].Slabs, maps[k].Writable)
	}
	for _, k := range hashSlots(maps) {
		if t := &maps[k].Table; t.HitInline() {
			add(t.Values, maps[k].Writable) // the hits' values
		}
	}
}

// setArraysCPU points the inlined arrays at the slabs of the VM's CPU.
func (vm *VM) setArraysCPU() {
	maps := vm.p.inline.Maps
	for s, k := range vm.p.slots {
		slabs := maps[k].Slabs
		b := slabs[uint(vm.cpu)%uint(len(slabs))]
		a := &vm.ctx.inline.arrays[s]
		a.base = addrOf(b)
		setSliceRegion(&a.slab, b)
	}
}

// SetCPU sets the CPU whose per-CPU array slabs the inline lookups use;
// it must match the CPU the helpers' state reports. It must not be called
// during a run.
func (vm *VM) SetCPU(cpu int) {
	if cpu == vm.cpu || vm.running {
		return
	}
	vm.cpu = cpu
	vm.setArraysCPU()
	vm.setHashesCPU()
}

// SetPrandom gives the VM the state of get_prandom_u32's stream
// (engine.PrandomNext), which inlined calls advance; nil makes them call
// the helper. It must not be called during a run.
func (vm *VM) SetPrandom(state *uint64) {
	if vm.running {
		return
	}
	vm.rng = state // keeps it alive: the context holds only its address
	vm.ctx.inline.rng = uint64(uintptr(unsafe.Pointer(state)))
}

// specializeSites gives the static map helper calls on inline maps that
// the code does not always run inline (hash lookups; updates and deletes) a
// lighter helper: for the map the lddw before the call loads and a key
// (and value) in the live stack frames, it calls the map directly
// instead of going through the helper's map cache and Env.Memory. Any
// other call runs the helper itself, so results and errors are the
// helper's.
//
// Hits of hash maps without preallocation do not run in generated code:
// a value is a Go heap object the map may drop (a concurrent delete) while
// the program still uses it, and only Go code can keep it alive for the
// run (as Env.AddRegion does).
func (p *Program) specializeSites() {
	maps := p.inline.Maps
	if len(maps) == 0 {
		return
	}
	var targets []bool
	for i, fn := range p.siteFns {
		if fn == nil {
			continue
		}
		id := p.insns[i].Imm
		if id != engine.HelperMapLookupElem && id != engine.HelperMapUpdateElem && id != engine.HelperMapDeleteElem {
			continue
		}
		if targets == nil {
			targets = engine.JumpTargets(p.insns)
		}
		if k := engine.StaticMapArg(p.insns, targets, i, maps); k >= 0 {
			if s := mapSite(id, &maps[k], fn); s != nil {
				p.siteFns[i] = s
			}
		}
	}
}

// mapSite returns the specialized helper of id on m (generic otherwise),
// or nil if there is none.
func mapSite(id int32, m *engine.InlineMap, generic engine.Helper) engine.Helper {
	ks, vs := uint64(m.KeySize), uint64(m.ValueSize)
	switch {
	case id == engine.HelperMapLookupElem && m.Kind == engine.MapHash && m.Lookup != nil:
		return func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			vm, ok := env.(*VM)
			if !ok || r1 != m.Handle {
				return generic(env, r1, r2, r3, r4, r5)
			}
			key := vm.stackAt(r2, ks)
			if key == nil {
				return generic(env, r1, r2, r3, r4, r5)
			}
			v := m.Lookup(key, vm.cpu)
			if v == nil {
				return 0, nil
			}
			return vm.exposeValue(v, m.Writable), nil
		}
	case id == engine.HelperMapUpdateElem && m.Update != nil:
		return func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			vm, ok := env.(*VM)
			if !ok || r1 != m.Handle {
				return generic(env, r1, r2, r3, r4, r5)
			}
			key, val := vm.stackAt(r2, ks), vm.stackAt(r3, vs)
			if key == nil || val == nil {
				return generic(env, r1, r2, r3, r4, r5)
			}
			return m.Update(key, val, r4, vm.cpu), nil
		}
	case id == engine.HelperMapDeleteElem && m.Delete != nil:
		return func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			vm, ok := env.(*VM)
			if !ok || r1 != m.Handle {
				return generic(env, r1, r2, r3, r4, r5)
			}
			key := vm.stackAt(r2, ks)
			if key == nil {
				return generic(env, r1, r2, r3, r4, r5)
			}
			return m.Delete(key), nil
		}
	}
	return nil
}

// stackAt returns the n bytes at addr if they lie in the live stack
// frames of the running program (during a helper call), or nil.
func (vm *VM) stackAt(addr, n uint64) []byte {
	a, live := addr-vm.stackLo, vm.ctx.fp-vm.stackLo
	if !vm.running || n == 0 || a >= live || n > live-a {
		return nil
	}
	return vm.stack[a : a+n : a+n]
}

// exposeValue makes a map value accessible until the run ends, as the
// lookup helper does (a value already exposed among the last regions is
// not added again), makes it the inline extra region its accesses check,
// and returns its address.
func (vm *VM) exposeValue(v []byte, writable bool) uint64 {
	lo := addrOf(v)
	if len(v) == 0 {
		return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(v))))
	}
	hi := lo + uint64(len(v))
	for k, n := len(vm.extra)-1, 0; k >= 0 && n < 64; k, n = k-1, n+1 {
		if r := &vm.extra[k]; r.lo == lo && r.hi == hi && r.writable == writable {
			slot := regionExtraR
			if writable {
				slot = regionExtraW
			}
			setRegion(&vm.ctx.regions[slot], lo, hi)
			return lo
		}
	}
	vm.AddRegion(v, writable)
	return lo
}
