package helpers

import (
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// bpf_skb_adjust_room modes and flags (include/uapi/linux/bpf.h).
const (
	adjRoomNet = 0
	adjRoomMac = 1

	adjRoomFixedGSO    = 1 << 0
	adjRoomEncapL3IPv4 = 1 << 1
	adjRoomEncapL3IPv6 = 1 << 2
	adjRoomEncapL4GRE  = 1 << 3
	adjRoomEncapL4UDP  = 1 << 4
	adjRoomNoCsumReset = 1 << 5
	adjRoomEncapL2Eth  = 1 << 6
	adjRoomDecapL3IPv4 = 1 << 7
	adjRoomDecapL3IPv6 = 1 << 8
	adjRoomEncapL2Mask = 0xff << 56

	adjRoomEncapL3 = adjRoomEncapL3IPv4 | adjRoomEncapL3IPv6
	adjRoomDecapL3 = adjRoomDecapL3IPv4 | adjRoomDecapL3IPv6
	adjRoomMask    = adjRoomFixedGSO | adjRoomEncapL3 | adjRoomEncapL4GRE | adjRoomEncapL4UDP |
		adjRoomEncapL2Eth | adjRoomEncapL2Mask | adjRoomDecapL3

	// eALREADY: an skb already encapsulated cannot be encapsulated again.
	eALREADY maps.Errno = 114

	ethPIP   = 0x0800
	ethPIPv6 = 0x86dd
)

// netBaseLen is bpf_skb_net_base_len: the fixed network header length.
func netBaseLen(proto uint16) int {
	switch proto {
	case ethPIP:
		return 20
	case ethPIPv6:
		return 40
	}
	return -1
}

// skbAdjustRoom is bpf_skb_adjust_room(skb, len_diff, mode, flags):
// len_diff bytes of room are inserted (zeroed) or removed after the MAC
// header (BPF_ADJ_ROOM_MAC) or after the fixed network header
// (BPF_ADJ_ROOM_NET), with the kernel's checks in the kernel's order.
// Test-run skbs are never GSO, so the GSO rules do not arise.
func (s *State) skbAdjustRoom(env engine.Env, _, r2, r3, r4, _ uint64) (uint64, error) {
	p := s.Packet
	if p == nil || p.XDP {
		return errno(maps.EINVAL), nil
	}
	diff, mode, flags := int32(uint32(r2)), uint32(r3), r4
	abs := int(diff)
	shrink := diff < 0
	if shrink {
		abs = -abs
	}
	if flags&^uint64(adjRoomMask|adjRoomNoCsumReset) != 0 {
		return errno(maps.EINVAL), nil
	}
	if abs > 0xfff {
		return errno(maps.EFAULT), nil
	}
	base := netBaseLen(p.Protocol)
	if base < 0 {
		return errno(maps.ENOTSUPP), nil
	}
	macLen := p.Net - p.Data
	off := macLen
	switch mode {
	case adjRoomNet:
		off += base
	case adjRoomMac:
	default:
		return errno(maps.ENOTSUPP), nil
	}
	lenMin := base
	if flags&adjRoomDecapL3 != 0 {
		if !shrink {
			return errno(maps.EINVAL), nil
		}
		switch flags & adjRoomDecapL3 {
		case adjRoomDecapL3IPv4:
			lenMin = 20
		case adjRoomDecapL3IPv6:
			lenMin = 40
		default:
			return errno(maps.EINVAL), nil
		}
	}
	skbLen := p.End - p.Data
	lenCur := skbLen - macLen
	if shrink && (abs >= lenCur || lenCur-abs < lenMin) || !shrink && skbLen+abs > skbMaxLen {
		return errno(maps.ENOTSUPP), nil
	}
	if shrink {
		return s.adjustRoomShrink(env, off, abs, flags), nil
	}
	return s.adjustRoomGrow(env, off, abs, flags), nil
}

// adjustRoomShrink is bpf_skb_net_shrink: the off bytes in front move
// forward over the removed room.
func (s *State) adjustRoomShrink(env engine.Env, off, n int, flags uint64) uint64 {
	p := s.Packet
	if flags&^uint64(adjRoomFixedGSO|adjRoomDecapL3|adjRoomNoCsumReset) != 0 {
		return errno(maps.EINVAL)
	}
	if off+n > p.End-p.Data {
		return errno(maps.ENOMEM) // pskb_may_pull
	}
	copy(p.Buf[p.Data+n:], p.Buf[p.Data:p.Data+off])
	p.Data += n
	p.Meta = p.Data
	p.Net += n // the network header keeps its offset from the MAC header
	switch {
	case p.Protocol == ethPIP && flags&adjRoomDecapL3IPv6 != 0:
		p.Protocol = ethPIPv6
	case p.Protocol == ethPIPv6 && flags&adjRoomDecapL3IPv4 != 0:
		p.Protocol = ethPIP
	}
	env.AddRegion(p.Buf, true)
	p.sync()
	return 0
}

// adjustRoomGrow is bpf_skb_net_grow: the off bytes in front move back,
// leaving n zeroed bytes after them.
func (s *State) adjustRoomGrow(env engine.Env, off, n int, flags uint64) uint64 {
	p := s.Packet
	innerMacLen := int(flags >> 56)
	if encap := flags&adjRoomEncapL3 != 0; encap {
		switch {
		case flags&adjRoomEncapL3 == adjRoomEncapL3:
			return errno(maps.EINVAL)
		case flags&adjRoomEncapL4GRE != 0 && flags&adjRoomEncapL4UDP != 0:
			return errno(maps.EINVAL)
		case flags&adjRoomEncapL2Eth != 0 && innerMacLen < 14:
			return errno(maps.EINVAL)
		case p.Encapsulated:
			return errno(eALREADY)
		case innerMacLen > n:
			return errno(maps.EINVAL)
		}
		p.Encapsulated = true
		switch {
		case p.Protocol == ethPIP && flags&adjRoomEncapL3IPv6 != 0:
			p.Protocol = ethPIPv6
		case p.Protocol == ethPIPv6 && flags&adjRoomEncapL3IPv4 != 0:
			p.Protocol = ethPIP
		}
	}
	if p.Data-n < p.MinData {
		// Not enough headroom: a new buffer (skb_cow_head; old packet
		// pointers go stale, as the verifier makes them).
		grow := n - (p.Data - p.MinData)
		buf := make([]byte, len(p.Buf)+grow)
		copy(buf[grow:], p.Buf)
		p.Buf = buf
		p.Data += grow
		p.End += grow
		p.Meta += grow
		p.Net += grow
		p.MaxEnd += grow
	}
	copy(p.Buf[p.Data-n:], p.Buf[p.Data:p.Data+off])
	p.Data -= n
	clear(p.Buf[p.Data+off : p.Data+off+n])
	p.Meta = p.Data
	p.Net -= n
	env.AddRegion(p.Buf, true)
	p.sync()
	return 0
}
