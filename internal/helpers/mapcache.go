package helpers

import "github.com/bpfvm/bpfvm/internal/maps"

// mapInfo is what the map helpers need of a map, resolved once per VM:
// programs use few maps, so a small cache in front of the registry saves
// the handle lookup, the spec copy and the interface assertions of every
// call.
type mapInfo struct {
	handle     uint64
	m          maps.Map
	keySize    uint64
	valueSize  uint64
	writable   bool           // values writable by programs
	mapOfMaps  maps.MapOfMaps // nil unless ARRAY_OF_MAPS / HASH_OF_MAPS
	pushPopper bool
	slab       maps.Slabbed // non-nil for maps whose values live in slabs
	// slabRun and slabCPU record the run (State.run) and CPU whose slab
	// was last exposed, so a run exposes it once without a search.
	slabRun uint64
	slabCPU int
	// For plain arrays (slab maps with one slab and 4-byte keys): the
	// slab and its layout, so lookups index it directly.
	arr        []byte
	arrStride  uint64
	maxEntries uint64
}

const mapCacheSize = 8

type mapCache struct {
	entries [mapCacheSize]mapInfo
	n, next int
}

// info returns the cached description of the map with handle h.
func (s *State) info(h uint64) (*mapInfo, error) {
	c := &s.maps
	for i := 0; i < c.n; i++ {
		if c.entries[i].handle == h {
			return &c.entries[i], nil
		}
	}
	m, err := s.mapArg(h)
	if err != nil {
		return nil, err
	}
	spec := m.Spec()
	e := mapInfo{handle: h, m: m, keySize: uint64(spec.KeySize), valueSize: uint64(spec.ValueSize),
		writable: spec.Flags&maps.FlagRdonlyProg == 0}
	e.mapOfMaps, _ = m.(maps.MapOfMaps)
	_, e.pushPopper = m.(maps.PushPopper)
	e.slab, _ = m.(maps.Slabbed)
	if e.slab != nil && spec.KeySize == 4 {
		if slabs, stride := e.slab.Layout(); len(slabs) == 1 {
			e.arr, e.arrStride, e.maxEntries = slabs[0], uint64(stride), uint64(spec.MaxEntries)
		}
	}
	slot := c.next
	c.next = (c.next + 1) % mapCacheSize
	if c.n < mapCacheSize {
		slot = c.n
		c.n++
	}
	c.entries[slot] = e
	return &c.entries[slot], nil
}
