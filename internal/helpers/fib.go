package helpers

import (
	"encoding/binary"
	"net/netip"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// Route is one entry of the routing table bpf_fib_lookup consults.
type Route struct {
	Prefix  netip.Prefix
	Ifindex uint32     // egress interface
	Gateway netip.Addr // next hop (invalid: directly connected)
	SrcMAC  [6]byte    // the egress interface's address
	DstMAC  [6]byte    // the next hop's address (zero: no neighbour entry)
	MTU     uint16     // 0: no limit
	// Blackhole, Unreachable and Prohibit make the route answer with the
	// kernel's matching result instead of forwarding.
	Blackhole, Unreachable, Prohibit bool
}

// bpf_fib_lookup results and layout.
const (
	fibSuccess     = 0
	fibBlackhole   = 1
	fibUnreachable = 2
	fibProhibit    = 3
	fibNotFwded    = 4
	fibFragNeeded  = 8
	fibNoNeigh     = 7
	fibParamsSize  = 64
	afInet         = 2
	afInet6        = 10
	eAFNOSUPPORT   = maps.Errno(97)
)

// fibLookup is bpf_fib_lookup(ctx, params, plen, flags) answered from
// Host.Routes by longest prefix match on the destination.
func (s *State) fibLookup(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	if r3 < fibParamsSize {
		return errno(maps.EINVAL), nil
	}
	p, err := env.Memory(r2, fibParamsSize, true)
	if err != nil {
		return 0, err
	}
	var dst netip.Addr
	switch p[0] {
	case afInet:
		dst = netip.AddrFrom4([4]byte(p[32:36]))
	case afInet6:
		dst = netip.AddrFrom16([16]byte(p[32:48]))
	default:
		return errno(eAFNOSUPPORT), nil
	}
	var best *Route
	for i := range s.Host.Routes {
		r := &s.Host.Routes[i]
		if r.Prefix.Contains(dst) && (best == nil || r.Prefix.Bits() > best.Prefix.Bits()) {
			best = r
		}
	}
	switch {
	case best == nil:
		return fibNotFwded, nil
	case best.Blackhole:
		return fibBlackhole, nil
	case best.Unreachable:
		return fibUnreachable, nil
	case best.Prohibit:
		return fibProhibit, nil
	}
	le := binary.LittleEndian
	if totLen := binary.LittleEndian.Uint16(p[6:]); best.MTU != 0 && totLen > best.MTU {
		le.PutUint16(p[6:], best.MTU)
		return fibFragNeeded, nil
	}
	le.PutUint32(p[8:], best.Ifindex)
	if best.Gateway.IsValid() {
		if best.Gateway.Is4() && p[0] == afInet {
			a := best.Gateway.As4()
			copy(p[32:36], a[:])
		} else if p[0] == afInet6 {
			a := best.Gateway.As16()
			copy(p[32:48], a[:])
		}
	}
	copy(p[52:58], best.SrcMAC[:])
	if best.DstMAC == ([6]byte{}) {
		return fibNoNeigh, nil
	}
	copy(p[58:64], best.DstMAC[:])
	if best.MTU != 0 {
		le.PutUint16(p[6:], best.MTU)
	}
	return fibSuccess, nil
}
