package maps

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// lpmEntry is one prefix: the key as the caller gave it (the kernel keeps
// the bits beyond the prefix as given) and its value.
type lpmEntry struct {
	key   []byte
	plen  uint32
	value []byte
}

// lpmTrie implements LPM_TRIE. Entries are indexed by prefix length and
// masked data; a lookup tries each prefix length from the longest down, and
// iteration follows the kernel trie's post-order (deeper and 0-branch
// prefixes first).
type lpmTrie struct {
	base
	unsupported
	dataSize int
	entries  map[string]*lpmEntry // by index key: plen (4 bytes) + masked data
	order    []*lpmEntry          // iteration order cache; nil when stale
}

func newLPMTrie(spec Spec) (Map, error) {
	if spec.MaxEntries == 0 || spec.Flags&FlagNoPrealloc == 0 {
		return nil, fmt.Errorf("%w: lpm_trie needs max_entries and BPF_F_NO_PREALLOC", ErrInvalid)
	}
	if err := checkFlags(&spec, FlagNoPrealloc|FlagNumaNode); err != nil {
		return nil, err
	}
	if spec.KeySize < 5 || spec.KeySize > 260 || spec.ValueSize < 1 || spec.ValueSize > 1<<20 {
		return nil, fmt.Errorf("%w: lpm_trie key size %d (5-260), value size %d", ErrInvalid, spec.KeySize, spec.ValueSize)
	}
	spec.SpinLockOffset = -1
	return &lpmTrie{base: base{spec: spec}, dataSize: int(spec.KeySize) - 4, entries: make(map[string]*lpmEntry)}, nil
}

func (m *lpmTrie) HostValueSize() int { return int(m.spec.ValueSize) }

// indexKey writes plen and the first plen bits of data into buf.
func indexKey(buf []byte, plen uint32, data []byte) []byte {
	buf = buf[:4+len(data)]
	binary.LittleEndian.PutUint32(buf, plen)
	full := int(plen / 8)
	copy(buf[4:], data[:full])
	rest := buf[4+full:]
	clear(rest)
	if plen%8 != 0 {
		rest[0] = data[full] & ^byte(0xff>>(plen%8))
	}
	return buf
}

// longest returns the entry of the longest stored prefix, at most plen
// bits long, that matches data.
func (m *lpmTrie) longest(plen uint32, data []byte) *lpmEntry {
	var buf [260]byte
	for p := int(plen); p >= 0; p-- {
		if e := m.entries[string(indexKey(buf[:], uint32(p), data))]; e != nil {
			return e
		}
	}
	return nil
}

func (m *lpmTrie) split(key []byte) (uint32, []byte) {
	return binary.LittleEndian.Uint32(key), key[4:]
}

func (m *lpmTrie) Lookup(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	if flags != 0 {
		return fmt.Errorf("%w: lookup flags %#x", ErrInvalid, flags)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.lookup(key)
	if e == nil {
		return ErrKeyNotExist
	}
	copy(value, e.value)
	return nil
}

func (m *lpmTrie) lookup(key []byte) *lpmEntry {
	plen, data := m.split(key)
	if plen > uint32(8*m.dataSize) {
		return nil // trie_lookup_elem refuses such keys
	}
	return m.longest(plen, data)
}

func (m *lpmTrie) ProgLookup(key []byte, cpu int) []byte {
	if len(key) != int(m.spec.KeySize) {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e := m.lookup(key); e != nil {
		return e.value
	}
	return nil
}

func (m *lpmTrie) Update(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	return m.update(key, value, flags)
}

func (m *lpmTrie) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	if len(key) != int(m.spec.KeySize) || len(value) != int(m.spec.ValueSize) {
		return fmt.Errorf("%w: key or value size", ErrInvalid)
	}
	return m.update(key, value, flags)
}

// update follows trie_update_elem: flags, then the prefix length, then
// existence, then capacity (ENOSPC) for a new prefix.
func (m *lpmTrie) update(key, value []byte, flags uint64) error {
	if flags > UpdateExist {
		return fmt.Errorf("%w: update flags %#x", ErrInvalid, flags)
	}
	plen, data := m.split(key)
	if plen > uint32(8*m.dataSize) {
		return fmt.Errorf("%w: prefix length %d exceeds %d", ErrInvalid, plen, 8*m.dataSize)
	}
	var buf [260]byte
	ik := indexKey(buf[:], plen, data)
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.entries[string(ik)]
	switch {
	case old != nil && flags == UpdateNoExist:
		return ErrKeyExist
	case old == nil && flags == UpdateExist:
		return ErrKeyNotExist
	case old == nil && len(m.entries) >= int(m.spec.MaxEntries):
		return fmt.Errorf("%w: lpm_trie holds max_entries %d prefixes", ErrNoSpace, m.spec.MaxEntries)
	}
	e := &lpmEntry{key: append([]byte(nil), key...), plen: plen, value: append([]byte(nil), value...)}
	m.entries[string(ik)] = e
	m.order = nil
	return nil
}

func (m *lpmTrie) Delete(key []byte) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	return m.ProgDelete(key)
}

func (m *lpmTrie) ProgDelete(key []byte) error {
	if len(key) != int(m.spec.KeySize) {
		return ErrInvalid
	}
	plen, data := m.split(key)
	if plen > uint32(8*m.dataSize) {
		return fmt.Errorf("%w: prefix length %d exceeds %d", ErrInvalid, plen, 8*m.dataSize)
	}
	var buf [260]byte
	ik := indexKey(buf[:], plen, data)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[string(ik)] == nil {
		return ErrKeyNotExist
	}
	delete(m.entries, string(ik))
	m.order = nil
	return nil
}

func bit(data []byte, i uint32) byte { return data[i/8] >> (7 - i%8) & 1 }

// postorderLess orders two prefixes as a post-order walk of the kernel's
// trie visits them: at the first differing bit the 0 branch comes first;
// of a prefix and a longer prefix it covers, the longer comes first.
func postorderLess(a, b *lpmEntry) bool {
	m := min(a.plen, b.plen)
	da, db := a.key[4:], b.key[4:]
	for i := uint32(0); i < m; i++ {
		if x, y := bit(da, i), bit(db, i); x != y {
			return x < y
		}
	}
	return a.plen > b.plen
}

func (m *lpmTrie) NextKey(key, next []byte) error {
	if key != nil {
		if err := checkKey(&m.spec, key); err != nil {
			return err
		}
	}
	if len(next) != int(m.spec.KeySize) {
		return fmt.Errorf("%w: next key buffer is %d bytes, want %d", ErrInvalid, len(next), m.spec.KeySize)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.order == nil {
		m.order = make([]*lpmEntry, 0, len(m.entries))
		for _, e := range m.entries {
			m.order = append(m.order, e)
		}
		sort.Slice(m.order, func(i, j int) bool { return postorderLess(m.order[i], m.order[j]) })
	}
	pos := 0
	if key != nil {
		plen, data := m.split(key)
		if plen <= uint32(8*m.dataSize) {
			var buf [260]byte
			if cur := m.entries[string(indexKey(buf[:], plen, data))]; cur != nil {
				pos = sort.Search(len(m.order), func(i int) bool { return !postorderLess(m.order[i], cur) }) + 1
			}
		}
	}
	if pos >= len(m.order) {
		return ErrKeyNotExist
	}
	copy(next, m.order[pos].key)
	return nil
}
