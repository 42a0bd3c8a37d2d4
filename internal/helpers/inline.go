package helpers

import (
	"sync"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// InlineMap describes map m (whose programs' handle is handle) for the
// engines' inline map operations (engine.InlineMap), with exactly what
// the map helpers do for it; ok is false for map types the engines run
// through the helpers only (maps of maps, queues, ring buffers, ...).
func InlineMap(m maps.Map, handle uint64) (im engine.InlineMap, ok bool) {
	spec := m.Spec()
	im = engine.InlineMap{
		Handle:    handle,
		KeySize:   spec.KeySize,
		ValueSize: spec.ValueSize,
		Writable:  spec.Flags&maps.FlagRdonlyProg == 0,
		Update: func(key, value []byte, flags uint64, cpu int) uint64 {
			return maps.Ret(m.ProgUpdate(key, value, flags, cpu))
		},
		Delete: func(key []byte) uint64 { return maps.Ret(m.ProgDelete(key)) },
	}
	switch spec.Type {
	case maps.Array, maps.PerCPUArray:
		sl, ok := m.(maps.Slabbed)
		if !ok || spec.KeySize != 4 {
			return engine.InlineMap{}, false
		}
		slabs, stride := sl.Layout()
		im.Kind, im.Slabs, im.Stride, im.MaxEntries = engine.MapArray, slabs, uint64(stride), spec.MaxEntries
	case maps.Hash, maps.PerCPUHash, maps.LRUHash, maps.LRUPerCPUHash:
		im.Kind, im.Lookup = engine.MapHash, m.ProgLookup
		if t, ok := maps.Table(m); ok {
			im.Table = engine.HashTable{Buckets: t.Buckets, Mask: t.Mask, Seed: t.Seed,
				KeyOffset: maps.KeyOffset, HashOffset: maps.HashOffset, NextOffset: maps.NextOffset,
				Values: t.Values, ValueOffset: maps.ValueOffset, NumCPU: t.NumCPU, Stride: t.Stride,
				LRU: t.LRU, RefOffset: maps.RefOffset}
		}
	default:
		return engine.InlineMap{}, false
	}
	return im, true
}

// Leaf reports whether helper id is implemented and never runs bpf code
// (Env.Call): all but the callback helpers.
func Leaf(id int32) bool { return implemented()[id] && id != Loop && id != ForEachMapElem }

var implemented = sync.OnceValue(func() map[int32]bool {
	ids := map[int32]bool{}
	for id := range (&State{Host: &Host{}}).build() {
		ids[id] = true
	}
	return ids
})

// PrandomState returns the state of s's get_prandom_u32 stream, for
// engines that run the helper inline (engine.PrandomNext) on it.
func (s *State) PrandomState() *uint64 { return &s.rng }
