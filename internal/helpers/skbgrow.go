package helpers

import (
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// skbMaxLen bounds skb_change_tail (the kernel's BPF_SKB_MAX_LEN for a
// test-run skb on the loopback device is its maximal MTU: 64 KiB).
const skbMaxLen = 0xffff

// resizeTail moves the packet end to newEnd, growing the buffer (a new
// allocation: old pointers go stale, as the kernel invalidates them) when
// the tailroom is short; grown bytes are zero. The new memory becomes
// accessible to the program.
func (s *State) resizeTail(env engine.Env, newEnd int) {
	p := s.Packet
	if newEnd > p.MaxEnd {
		tail := len(p.Buf) - p.MaxEnd
		buf := make([]byte, newEnd+tail)
		copy(buf, p.Buf[:p.End])
		p.Buf = buf
		p.MaxEnd = len(buf) - tail
	} else if newEnd > p.End {
		clear(p.Buf[p.End:newEnd])
	}
	p.End = newEnd
	env.AddRegion(p.Buf, true)
	p.sync()
}

// skbChangeTail is bpf_skb_change_tail(skb, len, flags): the packet is
// trimmed or grown (with zeroes) to len bytes, never below the network
// header.
func (s *State) skbChangeTail(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	p := s.Packet
	if p == nil || p.XDP {
		return errno(maps.EINVAL), nil
	}
	if r3 != 0 || r2 > skbMaxLen || int(r2) < p.Net-p.Data {
		return errno(maps.EINVAL), nil
	}
	s.resizeTail(env, p.Data+int(r2))
	return 0, nil
}

// skbChangeHead is bpf_skb_change_head(skb, len, flags): len zeroed bytes
// are pushed in front of the packet (for an L3 packet that needs a MAC
// header); the network header stays where it is.
func (s *State) skbChangeHead(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	p := s.Packet
	if p == nil || p.XDP {
		return errno(maps.EINVAL), nil
	}
	n := int(uint32(r2))
	newLen := uint64(p.End-p.Data) + uint64(uint32(r2))
	if r3 != 0 || newLen > skbMaxLen {
		return errno(maps.EINVAL), nil
	}
	if p.Data-n < p.MinData {
		// Not enough headroom: a new buffer (old pointers go stale, as
		// the kernel invalidates them).
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
	p.Data -= n
	p.Meta = p.Data
	clear(p.Buf[p.Data : p.Data+n])
	env.AddRegion(p.Buf, true)
	p.sync()
	return 0, nil
}
