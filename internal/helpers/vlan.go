package helpers

import (
	"encoding/binary"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/maps"
)

const (
	ethP8021Q  = 0x8100
	ethP8021AD = 0x88a8
	vlanHLen   = 4
)

func ethTypeVLAN(p uint16) bool { return p == ethP8021Q || p == ethP8021AD }

// skbVlanPush is bpf_skb_vlan_push(skb, vlan_proto, vlan_tci): the tag
// goes to the skb's offloaded tag (as __vlan_hwaccel_put_tag); a tag
// already there is first written into the packet after the MAC
// addresses (skb_vlan_push).
func (s *State) skbVlanPush(env engine.Env, _, r2, r3, _, _ uint64) (uint64, error) {
	p := s.Packet
	if p == nil || p.XDP {
		return errno(maps.EINVAL), nil
	}
	be := uint16(r2)
	proto := be>>8 | be<<8
	if !ethTypeVLAN(proto) {
		proto = ethP8021Q
	}
	if p.VlanProto != 0 || p.VlanTCI != 0 {
		if p.Data-vlanHLen < p.MinData {
			s.growHead(vlanHLen)
		}
		copy(p.Buf[p.Data-vlanHLen:], p.Buf[p.Data:p.Data+12])
		p.Data -= vlanHLen
		binary.BigEndian.PutUint16(p.Buf[p.Data+12:], p.VlanProto)
		binary.BigEndian.PutUint16(p.Buf[p.Data+14:], p.VlanTCI)
		p.Meta = p.Data
		p.Protocol = p.VlanProto
		p.Net -= vlanHLen
		env.AddRegion(p.Buf, true)
	}
	p.VlanProto, p.VlanTCI = proto, uint16(r3)
	p.sync()
	return 0, nil
}

// skbVlanPop is bpf_skb_vlan_pop(skb) (skb_vlan_pop): the offloaded tag
// is cleared, or else the packet's outer tag removed; then a tag left
// in the packet moves to the offloaded one.
func (s *State) skbVlanPop(env engine.Env, _, _, _, _, _ uint64) (uint64, error) {
	p := s.Packet
	if p == nil || p.XDP {
		return errno(maps.EINVAL), nil
	}
	defer p.sync()
	if p.VlanProto != 0 || p.VlanTCI != 0 {
		p.VlanProto, p.VlanTCI = 0, 0
	} else {
		if !ethTypeVLAN(p.Protocol) {
			return 0, nil
		}
		if _, e := s.popVlanData(env); e != 0 {
			return errno(e), nil
		}
	}
	if !ethTypeVLAN(p.Protocol) {
		return 0, nil
	}
	proto := p.Protocol
	tci, e := s.popVlanData(env)
	if e != 0 {
		return errno(e), nil
	}
	p.VlanProto, p.VlanTCI = proto, tci
	return 0, nil
}

// popVlanData is __skb_vlan_pop: the tag after the MAC addresses is
// removed from the packet, and skb->protocol becomes the protocol it
// encapsulated.
func (s *State) popVlanData(env engine.Env) (uint16, maps.Errno) {
	p := s.Packet
	if p.End-p.Data < 14+vlanHLen {
		return 0, maps.ENOMEM // skb_ensure_writable(skb, VLAN_ETH_HLEN)
	}
	d := p.Buf[p.Data:p.End]
	tci := binary.BigEndian.Uint16(d[14:])
	inner := binary.BigEndian.Uint16(d[16:])
	switch {
	case inner >= 0x600: // vlan_set_encap_proto
		p.Protocol = inner
	case len(d) >= 20 && d[18] == 0xff && d[19] == 0xff:
		p.Protocol = 0x0001 // ETH_P_802_3: raw 802.3 (Novell)
	default:
		p.Protocol = 0x0004 // ETH_P_802_2
	}
	copy(p.Buf[p.Data+vlanHLen:], p.Buf[p.Data:p.Data+12])
	p.Data += vlanHLen
	p.Meta = p.Data
	if p.Net-p.Data < 14 {
		p.Net = p.Data + 14
	}
	env.AddRegion(p.Buf, true)
	return tci, 0
}

// growHead gives the packet n more bytes of headroom in a new buffer
// (skb_cow_head: old packet pointers go stale, as the verifier makes
// them).
func (s *State) growHead(n int) {
	p := s.Packet
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
