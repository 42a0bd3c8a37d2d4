package bpfvm

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfvm/bpfvm/internal/maps"
)

// The redirect target map types.
const (
	DevMap     MapType = maps.DevMap
	DevMapHash MapType = maps.DevMapHash
	CPUMap     MapType = maps.CPUMap
	XSKMap     MapType = maps.XSKMap
)

// RedirectedPacket is a packet a program redirected through a DEVMAP,
// DEVMAP_HASH, CPUMAP or XSKMAP: what the kernel would queue to the
// target device, CPU or AF_XDP socket.
type RedirectedPacket struct {
	Map *Map
	// Key is the map slot redirected to; Target is its value (an
	// ifindex, a CPU queue size, an XDP socket id: the map's value
	// bytes, whose first four bytes are the ifindex or queue size).
	Key    uint32
	Target []byte
	// Flags are bpf_redirect_map's flags (BPF_F_BROADCAST: one
	// RedirectedPacket per target).
	Flags uint64
	// Data is the packet as the program left it (the receiver owns it).
	Data []byte
}

// RedirectReceiver receives the packets programs redirect through a map.
// It runs on the goroutine of the run that redirected, after the run.
type RedirectReceiver func(RedirectedPacket)

// SetRedirectReceiver makes fn receive every packet a program redirects
// through m (a DEVMAP, DEVMAP_HASH, CPUMAP or XSKMAP) when the program's
// verdict is the redirect (XDP_REDIRECT, TC_ACT_REDIRECT), as the kernel
// acts on the redirect only then. A nil fn stops delivery. Without a
// receiver, redirects are only reported in RunOptions.Redirect.
func (m *Map) SetRedirectReceiver(fn RedirectReceiver) error {
	switch m.Type() {
	case DevMap, DevMapHash, CPUMap, XSKMap:
	default:
		return fmt.Errorf("%w: %s is not a redirect target map", ErrInvalidArgument, m)
	}
	if fn == nil {
		m.rt.redirectRx.Delete(m.id)
	} else {
		m.rt.redirectRx.Store(m.id, fn)
	}
	return nil
}

// Verdicts that act on a redirect.
const (
	xdpRedirect   = 4
	tcActRedirect = 7
)

// deliverRedirect hands a redirected packet to its map's receiver, if
// any. data is copied: the run's buffers are reused.
func (r *Runtime) deliverRedirect(typ ProgramType, rd *Redirect, ret uint32, data []byte) {
	if rd == nil || rd.Map == nil {
		return
	}
	switch {
	case typ == XDP && ret == xdpRedirect, (typ == SchedCLS || typ == SchedACT) && ret == tcActRedirect:
	default:
		return
	}
	v, ok := r.redirectRx.Load(rd.Map.id)
	if !ok {
		return
	}
	fn := v.(RedirectReceiver)
	const broadcast, excludeIngress = 8, 16
	send := func(key uint32, target []byte) {
		fn(RedirectedPacket{Map: rd.Map, Key: key, Target: target, Flags: rd.Flags, Data: append([]byte(nil), data...)})
	}
	if rd.Flags&broadcast == 0 {
		target, err := rd.Map.LookupBytes(rd.Key)
		if err == nil && target != nil {
			send(rd.Key, target)
		}
		return
	}
	// A broadcast goes to every target, but the ingress device (the
	// loopback, ifindex 1, for test runs) when asked to exclude it.
	var key uint32
	var target []byte
	it := rd.Map.Iterate()
	for it.Next(&key, &target) {
		if rd.Flags&excludeIngress != 0 && len(target) >= 4 && binary.LittleEndian.Uint32(target) == loopbackIfindex {
			continue
		}
		send(key, append([]byte(nil), target...))
	}
}

// loopbackIfindex is the ingress device of test runs.
const loopbackIfindex = 1
