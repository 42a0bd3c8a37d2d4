package bpfvm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfvm/bpfvm/internal/loader"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// Collection is the programs and maps of one object, like
// cilium/ebpf's Collection.
type Collection struct {
	Programs map[string]*Program
	Maps     map[string]*Map
}

// Close releases every program and map of the collection.
func (c *Collection) Close() error {
	for _, p := range c.Programs {
		p.Close()
	}
	for _, m := range c.Maps {
		m.Close()
	}
	return nil
}

// LoadCollectionFile loads an ELF object file (clang -target bpf).
func (r *Runtime) LoadCollectionFile(path string) (*Collection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	defer f.Close()
	coll, err := r.LoadCollectionReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return coll, nil
}

// LoadCollectionReader loads an ELF object.
func (r *Runtime) LoadCollectionReader(rd io.ReaderAt) (*Collection, error) {
	spec, err := parseELF(rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	return r.LoadCollection(spec)
}

// parseELF parses an object with cilium/ebpf, turning a panic on a
// hostile object into an error.
func parseELF(rd io.ReaderAt) (spec *ebpf.CollectionSpec, err error) {
	defer func() {
		if p := recover(); p != nil {
			spec, err = nil, fmt.Errorf("malformed ELF object (the parser failed: %v)", p)
		}
	}()
	return ebpf.LoadCollectionSpecFromReader(rd)
}

// LoadCollection loads a collection spec (from an ELF object, or what
// bpf2go generates): it creates the maps, fills them with their initial
// contents (global data, static program arrays and map-in-map slots) and
// links the programs. The spec is not modified.
func (r *Runtime) LoadCollection(spec *ebpf.CollectionSpec) (coll *Collection, err error) {
	if spec == nil {
		return nil, fmt.Errorf("%w: nil collection spec", ErrLoad)
	}
	spec = spec.Copy()
	c := &Collection{Programs: map[string]*Program{}, Maps: map[string]*Map{}}
	defer func() {
		if err != nil {
			c.Close()
			err = fmt.Errorf("%w: %w", ErrLoad, err)
		}
	}()
	if _, ok := spec.Maps[loader.KconfigMap]; !ok {
		kc, err := r.kconfigSpec(spec.Types)
		if err != nil {
			return nil, err
		}
		if kc != nil {
			spec.Maps[loader.KconfigMap] = kc
		}
	}
	names := make([]string, 0, len(spec.Maps))
	for n := range spec.Maps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m, err := r.createMap(spec.Maps[n])
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", n, err)
		}
		c.Maps[n] = m
	}
	res := &resolver{c}
	pnames := make([]string, 0, len(spec.Programs))
	for n := range spec.Programs {
		pnames = append(pnames, n)
	}
	sort.Strings(pnames)
	for _, n := range pnames {
		ps := spec.Programs[n]
		if t, ok := r.progTypes[n]; ok {
			ps.Type = ebpf.ProgramType(t)
		}
		if ps.Type == ebpf.UnspecifiedProgram {
			return nil, fmt.Errorf("program %s: section %q names no program type libbpf knows: give one with WithProgramType (or set ProgramSpec.Type)", n, ps.SectionName)
		}
		linked, err := loader.Link(ps, res, func(name string) bool {
			m := c.Maps[name]
			return m != nil && m.Flags()&maps.FlagRdonlyProg != 0
		}, loader.Options{Types: spec.Types, Targets: r.coreTargets})
		if err != nil {
			return nil, fmt.Errorf("program %s: %w", n, err)
		}
		proven, err := r.verifyProgram(c, ps, linked)
		if err != nil {
			return nil, err
		}
		p, err := newProgram(r, ps, linked, proven)
		if err != nil {
			return nil, err
		}
		p.id = r.registry.AddProgram(p)
		c.Programs[n] = p
	}
	for _, n := range names {
		if err := r.fillMap(c, spec.Maps[n], c.Maps[n]); err != nil {
			return nil, fmt.Errorf("map %s contents: %w", n, err)
		}
	}
	return c, nil
}

type resolver struct{ c *Collection }

func (r *resolver) MapHandle(name string) (uint64, bool) {
	m, ok := r.c.Maps[name]
	if !ok {
		return 0, false
	}
	return maps.Handle(m.id), true
}

func (r *resolver) MapValue(name string) ([]byte, bool) {
	m, ok := r.c.Maps[name]
	if !ok {
		return nil, false
	}
	dv, ok := m.m.(maps.DirectValue)
	if !ok {
		return nil, false
	}
	v := dv.Value(0)
	return v, v != nil
}

// spinLockOffset finds a struct bpf_spin_lock member in a value type.
func spinLockOffset(t btf.Type) int {
	s, ok := btf.UnderlyingType(t).(*btf.Struct)
	if !ok {
		return -1
	}
	for _, m := range s.Members {
		if ms, ok := btf.UnderlyingType(m.Type).(*btf.Struct); ok && ms.Name == "bpf_spin_lock" {
			return int(m.Offset.Bytes())
		}
	}
	return -1
}

func (r *Runtime) mapSpec(ms *ebpf.MapSpec) *maps.Spec {
	s := &maps.Spec{
		Name: ms.Name, Type: maps.Type(ms.Type), KeySize: ms.KeySize, ValueSize: ms.ValueSize,
		MaxEntries: ms.MaxEntries, Flags: ms.Flags, NumCPU: r.numCPU,
		SpinLockOffset: spinLockOffset(ms.Value), Registry: r.registry,
	}
	if ms.InnerMap != nil {
		s.InnerMap = r.mapSpec(ms.InnerMap)
	}
	return s
}

func (r *Runtime) createMap(ms *ebpf.MapSpec) (*Map, error) {
	if ms.Pinning == ebpf.PinByName {
		r.mu.Lock()
		defer r.mu.Unlock()
		if m, ok := r.pinned[ms.Name]; ok {
			s := m.m.Spec()
			max := ms.MaxEntries
			if max == 0 && ms.Type == ebpf.PerfEventArray {
				// It got one entry per CPU when it was created.
				max = uint32(r.numCPU)
			}
			if s.Type != maps.Type(ms.Type) || s.KeySize != ms.KeySize || s.ValueSize != ms.ValueSize || s.MaxEntries != max {
				return nil, fmt.Errorf("%w: pinned map %s has a different definition", ErrInvalidArgument, ms.Name)
			}
			return m, nil
		}
	}
	spec := r.mapSpec(ms)
	mm, err := maps.New(*spec)
	if err != nil {
		return nil, err
	}
	m := &Map{name: ms.Name, m: mm, rt: r}
	m.id = r.registry.AddMap(mm)
	if ms.Pinning == ebpf.PinByName {
		m.pinned = true
		r.pinned[ms.Name] = m
	}
	return m, nil
}

// fillMap stores a spec's initial contents. Program arrays and map-in-map
// values name programs and maps of the collection.
func (r *Runtime) fillMap(c *Collection, ms *ebpf.MapSpec, m *Map) error {
	for _, kv := range ms.Contents {
		var v any = kv.Value
		switch m.Type() {
		case maps.ProgArray:
			if name, ok := kv.Value.(string); ok {
				p, ok := c.Programs[name]
				if !ok {
					return fmt.Errorf("no program %q for the program array", name)
				}
				v = p
			}
		case maps.ArrayOfMaps, maps.HashOfMaps:
			if name, ok := kv.Value.(string); ok {
				mm, ok := c.Maps[name]
				if !ok {
					return fmt.Errorf("no map %q for the map-in-map", name)
				}
				v = mm
			}
		}
		if err := m.Update(kv.Key, v, UpdateAny); err != nil {
			return err
		}
	}
	return nil
}

// progValue encodes a PROG_ARRAY value: a *Program or a program id.
func (r *Runtime) progValue(v any) ([]byte, error) {
	switch x := v.(type) {
	case *Program:
		return binary.LittleEndian.AppendUint32(nil, x.id), nil
	case uint32:
		return binary.LittleEndian.AppendUint32(nil, x), nil
	case []byte:
		return x, nil
	}
	return nil, fmt.Errorf("%w: a program array takes a *Program or a program id, not %T", ErrInvalidArgument, v)
}

// mapValue encodes a map-in-map value: a *Map or a map id.
func (r *Runtime) mapValue(v any) ([]byte, error) {
	switch x := v.(type) {
	case *Map:
		return binary.LittleEndian.AppendUint32(nil, x.id), nil
	case uint32:
		return binary.LittleEndian.AppendUint32(nil, x), nil
	case []byte:
		return x, nil
	}
	return nil, fmt.Errorf("%w: a map-in-map takes a *Map or a map id, not %T", ErrInvalidArgument, v)
}

// NewMap creates a map outside any collection.
func (r *Runtime) NewMap(spec *ebpf.MapSpec) (*Map, error) {
	if spec == nil {
		return nil, errors.New("nil map spec")
	}
	m, err := r.createMap(spec)
	if err != nil {
		return nil, err
	}
	return m, r.fillMap(&Collection{}, spec, m)
}
