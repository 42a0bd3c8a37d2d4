package helpers

import (
	"encoding/binary"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// Errnos the packet helpers return besides the map ones.
const (
	eACCES  maps.Errno = 13
	eRANGE  maps.Errno = 34
	ethHLen            = 14
	// xdpFrameSize is sizeof(struct xdp_frame): the bottom of the headroom
	// xdp_adjust_head and xdp_adjust_meta may not cross.
	xdpFrameSize = 40
)

func (s *State) pkt() *Packet { return s.Packet }

// skbLoadBytes is bpf_skb_load_bytes(skb, offset, to, len): -EFAULT and a
// zeroed buffer when the range is not inside the packet.
func (s *State) skbLoadBytes(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	return s.loadBytes(env, r2, r3, r4, 0)
}

func (s *State) loadBytes(env engine.Env, off, to, n uint64, base int) (uint64, error) {
	dst, err := env.Memory(to, n, true)
	if err != nil {
		return 0, err
	}
	p := s.pkt()
	if p == nil || off > 0x7fffffff {
		clear(dst)
		return errno(maps.EFAULT), nil
	}
	start := uint64(p.Data+base) + off
	if base < 0 || start+n > uint64(p.End) || start < uint64(p.Data+base) {
		clear(dst)
		return errno(maps.EFAULT), nil
	}
	copy(dst, p.Buf[start:start+n])
	return 0, nil
}

// skbLoadBytesRelative is bpf_skb_load_bytes_relative: offsets from the
// MAC header (start 0, the packet's first byte in a test run) or the
// network header (start 1, after the 14-byte Ethernet header).
func (s *State) skbLoadBytesRelative(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	switch r5 {
	case 0:
		return s.loadBytes(env, r2, r3, r4, 0)
	case 1:
		return s.loadBytes(env, r2, r3, r4, ethHLen)
	}
	dst, err := env.Memory(r3, r4, true)
	if err != nil {
		return 0, err
	}
	clear(dst)
	return errno(maps.EFAULT), nil
}

// skbStoreBytes is bpf_skb_store_bytes(skb, offset, from, len, flags).
func (s *State) skbStoreBytes(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	if r5&^3 != 0 { // BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH
		return errno(maps.EINVAL), nil
	}
	src, err := env.Memory(r3, r4, false)
	if err != nil {
		return 0, err
	}
	p := s.pkt()
	if p == nil || r2 > 0x7fffffff || uint64(p.Data)+r2+r4 > uint64(p.End) {
		return errno(maps.EFAULT), nil
	}
	copy(p.Buf[uint64(p.Data)+r2:], src)
	return 0, nil
}

func (s *State) xdpLoadBytes(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	buf, err := env.Memory(r3, r4, true)
	if err != nil {
		return 0, err
	}
	p := s.pkt()
	if p == nil || r2 > 0xffff || r4 > 0xffff {
		return errno(maps.EFAULT), nil
	}
	if int(r2+r4) > p.Len() {
		return errno(maps.EINVAL), nil
	}
	lin, frag := p.span(int(r2), int(r4))
	copy(buf[copy(buf, lin):], frag)
	return 0, nil
}

func (s *State) xdpStoreBytes(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	buf, err := env.Memory(r3, r4, false)
	if err != nil {
		return 0, err
	}
	p := s.pkt()
	if p == nil || r2 > 0xffff || r4 > 0xffff {
		return errno(maps.EFAULT), nil
	}
	if int(r2+r4) > p.Len() {
		return errno(maps.EINVAL), nil
	}
	lin, frag := p.span(int(r2), int(r4))
	copy(frag, buf[copy(lin, buf):])
	return 0, nil
}

func (s *State) xdpGetBuffLen(env engine.Env, r1, _, _, _, _ uint64) (uint64, error) {
	if p := s.pkt(); p != nil {
		return uint64(p.Len()), nil
	}
	return 0, nil
}

// xdpAdjustHead is bpf_xdp_adjust_head: the data start moves by delta,
// keeping the metadata just in front of it, never below the xdp_frame
// area nor leaving less than an Ethernet header.
func (s *State) xdpAdjustHead(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	p := s.pkt()
	if p == nil || !p.XDP {
		return errno(maps.EINVAL), nil
	}
	delta := int(int32(r2))
	metalen := p.Data - p.Meta
	data := p.Data + delta
	if data < p.MinData+metalen || data > p.End-ethHLen {
		return errno(maps.EINVAL), nil
	}
	if metalen > 0 {
		copy(p.Buf[p.Meta+delta:], p.Buf[p.Meta:p.Data])
	}
	p.Meta += delta
	p.Data = data
	p.sync()
	return 0, nil
}

// xdpAdjustMeta is bpf_xdp_adjust_meta: metadata grows in front of data,
// in multiples of 4 bytes and at most 255.
func (s *State) xdpAdjustMeta(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	p := s.pkt()
	if p == nil || !p.XDP {
		return errno(maps.EINVAL), nil
	}
	meta := p.Meta + int(int32(r2))
	if meta < p.MinData || meta > p.Data {
		return errno(maps.EINVAL), nil
	}
	if l := p.Data - meta; l%4 != 0 || l > 255 {
		return errno(eACCES), nil
	}
	p.Meta = meta
	p.sync()
	return 0, nil
}

// xdpAdjustTail is bpf_xdp_adjust_tail: the end moves by delta within the
// frame, keeping at least an Ethernet header; grown bytes are zeroed.
func (s *State) xdpAdjustTail(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	p := s.pkt()
	if p == nil || !p.XDP {
		return errno(maps.EINVAL), nil
	}
	delta := int(int32(r2))
	if len(p.Frags) > 0 {
		return s.xdpAdjustFragsTail(delta)
	}
	end := p.End + delta
	if end > p.MaxEnd || end < p.Data+ethHLen {
		return errno(maps.EINVAL), nil
	}
	if delta > 0 {
		clear(p.Buf[p.End:end])
	}
	p.End = end
	p.sync()
	return 0, nil
}

// xdpAdjustFragsTail is bpf_xdp_adjust_tail on a multi-buffer packet
// (bpf_xdp_frags_increase_tail, bpf_xdp_frags_shrink_tail): it grows
// only into the last fragment's page, zeroing the new bytes; it shrinks
// fragments from the end, freeing emptied ones, and once none is left the
// linear part by the rest, keeping an Ethernet header.
func (s *State) xdpAdjustFragsTail(delta int) (uint64, error) {
	p := s.Packet
	if delta >= 0 {
		last := len(p.Frags) % FragSize
		if last == 0 {
			last = FragSize // a full page
		}
		if delta > FragSize-last {
			return errno(maps.EINVAL), nil
		}
		p.Frags = append(p.Frags, make([]byte, delta)...) // zeroed
		return 0, nil
	}
	shrink := -delta
	if shrink > p.Len()-ethHLen {
		return errno(maps.EINVAL), nil
	}
	fromFrags := min(shrink, len(p.Frags))
	p.Frags = p.Frags[:len(p.Frags)-fromFrags]
	if len(p.Frags) == 0 {
		p.End -= shrink - fromFrags
		p.sync()
	}
	return 0, nil
}

func (p *Packet) sync() {
	if p.Sync != nil {
		p.Sync()
	}
}

// Checksum arithmetic (include/net/checksum.h), on values as the program
// holds them: loaded from memory in host (little-endian) order, which the
// ones' complement sum does not care about.

func csumAdd(c, a uint32) uint32 {
	r := c + a
	if r < a {
		r++
	}
	return r
}

func csumFold(c uint32) uint16 {
	s := c&0xffff + c>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}

// csumPartial sums b (a multiple of 4 bytes here) as 32-bit words with
// end-around carry, starting from seed.
func csumPartial(b []byte, seed uint32) uint32 {
	var sum uint64 = uint64(seed)
	for len(b) >= 4 {
		sum += uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.LittleEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0])
	}
	for sum>>32 != 0 {
		sum = sum&0xffffffff + sum>>32
	}
	return uint32(sum)
}

// from32to16 folds a 32-bit partial sum to 16 bits without inverting: the
// arch-independent form bpf_csum_diff returns.
func from32to16(x uint32) uint64 {
	x = x&0xffff + x>>16
	x = x&0xffff + x>>16
	return uint64(x)
}

// csumDiff is bpf_csum_diff(from, from_size, to, to_size, seed) as the
// kernel computes it since 6.13: the checksum of to minus that of from,
// seeded, folded to 16 bits (any sizes; the verifier bounds them).
func (s *State) csumDiff(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	seed := uint32(r5)
	var from, to []byte
	var err error
	if r2 > 0 {
		if from, err = env.Memory(r1, r2, false); err != nil {
			return 0, err
		}
	}
	if r4 > 0 {
		if to, err = env.Memory(r3, r4, false); err != nil {
			return 0, err
		}
	}
	ret := seed
	switch {
	case r2 > 0 && r4 > 0:
		ret = csumAdd(csumPartial(to, ret), ^csumPartial(from, 0))
	case r4 > 0:
		ret = csumPartial(to, ret)
	case r2 > 0:
		ret = ^csumPartial(from, ^ret)
	}
	return from32to16(ret), nil
}

func (s *State) sumPtr(off uint64) ([]byte, maps.Errno) {
	p := s.pkt()
	if off > 0xffff || off&1 != 0 || p == nil || uint64(p.Data)+off+2 > uint64(p.End) {
		return nil, maps.EFAULT
	}
	i := uint64(p.Data) + off
	return p.Buf[i : i+2], 0
}

// l3CsumReplace is bpf_l3_csum_replace(skb, offset, from, to, flags).
func (s *State) l3CsumReplace(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	if r5&^0xf != 0 {
		return errno(maps.EINVAL), nil
	}
	ptr, e := s.sumPtr(r2)
	if e != 0 {
		return errno(e), nil
	}
	sum := uint32(binary.LittleEndian.Uint16(ptr))
	var res uint16
	switch r5 & 0xf {
	case 0:
		if r3 != 0 {
			return errno(maps.EINVAL), nil
		}
		res = csumFold(csumAdd(uint32(r4), ^sum))
	case 2:
		res = csumFold(csumAdd(csumAdd(^sum&0xffff, ^uint32(uint16(r3))&0xffff), uint32(uint16(r4))))
	case 4:
		res = csumFold(csumAdd(csumAdd(^sum, ^uint32(r3)), uint32(r4)))
	default:
		return errno(maps.EINVAL), nil
	}
	binary.LittleEndian.PutUint16(ptr, res)
	return 0, nil
}

// Flags of bpf_l4_csum_replace.
const (
	fPseudoHdr    = 1 << 4
	fMarkMangled0 = 1 << 5
	fMarkEnforce  = 1 << 6
	fIPv6         = 1 << 7
)

// l4CsumReplace is bpf_l4_csum_replace for an skb whose checksum is not
// offloaded (CHECKSUM_NONE, as in BPF_PROG_TEST_RUN).
func (s *State) l4CsumReplace(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	if r5&^uint64(0xf|fPseudoHdr|fMarkMangled0|fMarkEnforce|fIPv6) != 0 {
		return errno(maps.EINVAL), nil
	}
	ptr, e := s.sumPtr(r2)
	if e != 0 {
		return errno(e), nil
	}
	sum := uint32(binary.LittleEndian.Uint16(ptr))
	if r5&fMarkMangled0 != 0 && r5&fMarkEnforce == 0 && sum == 0 {
		return 0, nil
	}
	var res uint16
	switch r5 & 0xf {
	case 0:
		if r3 != 0 {
			return errno(maps.EINVAL), nil
		}
		res = csumFold(csumAdd(uint32(r4), ^sum))
	case 2, 4:
		from, to := uint32(r3), uint32(r4)
		if r5&0xf == 2 {
			from, to = uint32(uint16(r3)), uint32(uint16(r4))
		}
		var d [8]byte
		binary.LittleEndian.PutUint32(d[:], ^from)
		binary.LittleEndian.PutUint32(d[4:], to)
		res = csumFold(csumPartial(d[:], ^sum))
	default:
		return errno(maps.EINVAL), nil
	}
	if r5&fMarkMangled0 != 0 && res == 0 {
		res = 0xffff // CSUM_MANGLED_0
	}
	binary.LittleEndian.PutUint16(ptr, res)
	return 0, nil
}

// strtoull is __bpf_strtoull: it returns the characters consumed (leading
// spaces and sign included), the value and its sign.
func strtoull(buf []byte, flags uint64) (int, uint64, bool, maps.Errno) {
	base := flags & 0x1f
	if len(buf) == 0 || flags&^0x1f != 0 || (base != 0 && base != 8 && base != 10 && base != 16) {
		return 0, 0, false, maps.EINVAL
	}
	i := 0
	for i < len(buf) && (isSpace(buf[i]) || buf[i] == 0xa0) {
		i++
	}
	neg := i < len(buf) && buf[i] == '-'
	if neg {
		i++
	}
	rest := buf[i:]
	if len(rest) == 0 {
		return 0, 0, false, maps.EINVAL
	}
	if len(rest) > 63 {
		rest = rest[:63]
	}
	if n := indexNUL(rest); n >= 0 {
		rest = rest[:n]
	}
	j := 0
	lower := func(c byte) byte { return c | 0x20 }
	if base == 0 {
		base = 10
		if len(rest) > 0 && rest[0] == '0' {
			base = 8
			if len(rest) > 2 && lower(rest[1]) == 'x' && hexVal(rest[2]) < 16 {
				base = 16
			}
		}
	}
	if base == 16 && len(rest) > 1 && rest[0] == '0' && lower(rest[1]) == 'x' {
		j = 2
	}
	var v uint64
	digits := 0
	overflow := false
	for ; j < len(rest); j++ {
		d := hexVal(rest[j])
		if d >= base {
			break
		}
		if v > (^uint64(0)-d)/base {
			overflow = true
		}
		v = v*base + d
		digits++
	}
	if overflow {
		return 0, 0, false, eRANGE
	}
	if digits == 0 {
		return 0, 0, false, maps.EINVAL
	}
	return i + j, v, neg, 0
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func hexVal(c byte) uint64 {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0')
	case c|0x20 >= 'a' && c|0x20 <= 'f':
		return uint64(c|0x20-'a') + 10
	}
	return 99
}

func (s *State) strtox(env engine.Env, r1, r2, r3, r4 uint64, signed bool) (uint64, error) {
	res, err := env.Memory(r4, 8, true)
	if err != nil {
		return 0, err
	}
	clear(res) // the kernel zeroes the result first
	if r2 == 0 {
		return errno(maps.EINVAL), nil
	}
	buf, err := env.Memory(r1, r2, false)
	if err != nil {
		return 0, err
	}
	n, v, neg, e := strtoull(buf, r3)
	if e != 0 {
		return errno(e), nil
	}
	if signed {
		if neg {
			if int64(-v) > 0 {
				return errno(eRANGE), nil
			}
			v = -v
		} else if int64(v) < 0 {
			return errno(eRANGE), nil
		}
	} else if neg {
		return errno(maps.EINVAL), nil
	}
	binary.LittleEndian.PutUint64(res, v)
	return uint64(n), nil
}

func (s *State) strtol(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	return s.strtox(env, r1, r2, r3, r4, true)
}

func (s *State) strtoul(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	return s.strtox(env, r1, r2, r3, r4, false)
}
