package progtype

import (
	"encoding/binary"
	"fmt"
)

const (
	ethHLen = 14
	// skbHeadroom is NET_SKB_PAD + NET_IP_ALIGN on x86-64.
	skbHeadroom = 64
	// skbTailroom is SKB_DATA_ALIGN(sizeof(struct skb_shared_info)).
	skbTailroom = 320
	pageSize    = 4096
	// loopbackIfindex is the test-run device's ifindex.
	loopbackIfindex = 1
)

// Packet types set by eth_type_trans.
const (
	packetHost      = 0
	packetBroadcast = 1
	packetMulticast = 2
	packetOtherhost = 3
)

// skbAllowed lists the __sk_buff byte ranges a test-run context may set
// (convert___skb_to_skb): everything else must be zero.
var skbAllowed = [][2]int{
	{skbMark, skbMark + 4},
	{skbPriority, skbIfindex + 4}, // priority, ingress_ifindex, ifindex
	{skbCB, skbCB + 20},
	{skbTstamp, skbGSOSegs + 4}, // tstamp, wire_len, gso_segs
	{skbGSOSize, skbGSOSize + 4},
	{skbHwtstamp, skbHwtstamp + 8},
}

func checkUserSKB(ctx []byte) error {
	for i, b := range ctx {
		if b == 0 {
			continue
		}
		ok := false
		for _, r := range skbAllowed {
			if i >= r[0] && i < r[1] {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("%w: __sk_buff byte %d must be zero in a test-run context", ErrInvalidInput, i)
		}
	}
	return nil
}

// ethProtocol is eth_type_trans's protocol and packet type on the
// loopback device (address 00:00:00:00:00:00).
func ethProtocol(pkt []byte) (proto uint16, pktType uint32) {
	// The destination address as one number: the loopback device's
	// address is 0, broadcast all ones, multicast has the group bit.
	dst := uint64(binary.BigEndian.Uint32(pkt))<<16 | uint64(binary.BigEndian.Uint16(pkt[4:]))
	switch {
	case dst == 0xffff_ffff_ffff:
		pktType = packetBroadcast
	case pkt[0]&1 != 0:
		pktType = packetMulticast
	case dst != 0:
		pktType = packetOtherhost
	}
	proto = binary.BigEndian.Uint16(pkt[12:])
	if proto >= 0x600 {
		return proto, pktType
	}
	if len(pkt) >= 16 && binary.BigEndian.Uint16(pkt[14:]) == 0xffff {
		return 0x0001, pktType // ETH_P_802_3
	}
	return 0x0004, pktType // ETH_P_802_2
}

func (r *Run) prepareSKB(t Type, req Request) error {
	size := len(req.Data)
	if size < ethHLen || size > pageSize-skbHeadroom-skbTailroom {
		return fmt.Errorf("%w: packet of %d bytes (the kernel takes %d to %d)", ErrInvalidInput, size, ethHLen, pageSize-skbHeadroom-skbTailroom)
	}
	var user []byte
	if req.Context != nil || req.WantContextOut {
		if len(req.Context) > SkBuffSize {
			for _, b := range req.Context[SkBuffSize:] {
				if b != 0 {
					return fmt.Errorf("%w: context longer than __sk_buff with non-zero tail", ErrInvalidInput)
				}
			}
		}
		user = r.userCtx(SkBuffSize)
		copy(user, req.Context)
		if err := checkUserSKB(user); err != nil {
			return err
		}
		if ifi := binary.LittleEndian.Uint32(user[skbIfindex:]); ifi > 1 {
			return fmt.Errorf("%w: ifindex %d: bpfvm has only the loopback device (1)", ErrInvalidInput, ifi)
		}
	}
	l2 := t == SchedCLS || t == SchedACT
	r.direct = l2 || t == LWTIn || t == LWTOut || t == LWTXmit
	data := skbHeadroom + ethHLen // eth_type_trans pulls the header
	if l2 {
		data = skbHeadroom
	}
	end := skbHeadroom + size
	r.l = &skbLayout
	if req.Unobserved {
		// Checked as below (wire_len, gso_segs), but nothing filled.
		if user != nil {
			if w := binary.LittleEndian.Uint32(user[skbWireLen:]); w != 0 && (w < uint32(end-data) || w > 65536) {
				return fmt.Errorf("%w: wire_len %d", ErrInvalidInput, w)
			}
			if binary.LittleEndian.Uint32(user[skbGSOSegs:]) > 65535 {
				return fmt.Errorf("%w: gso_segs", ErrInvalidInput)
			}
		}
		buf := r.frame(skbHeadroom + size + skbTailroom)
		r.ctxLen(SkBuffSize + 3*8)
		p := &r.pkt
		p.Buf, p.Data, p.End, p.Meta, p.MinData, p.MaxEnd, p.XDP = buf, data, end, data, 0, len(buf)-skbTailroom, false
		r.Packet = p
		r.LDPacket = buf[data:end]
		r.user = user
		return nil
	}
	buf := r.packetBuf(skbHeadroom+size+skbTailroom, skbHeadroom, req.Data)
	proto, pktType := ethProtocol(req.Data)
	c := r.ctxMem(SkBuffSize + 3*8)
	le := binary.LittleEndian
	le.PutUint32(c[skbLen:], uint32(end-data))
	le.PutUint32(c[skbPktType:], pktType)
	le.PutUint32(c[skbProtocol:], uint32(proto>>8|proto<<8)) // __be16 as stored
	le.PutUint32(c[skbIfindex:], loopbackIfindex)
	le.PutUint32(c[skbWireLen:], uint32(end-data))
	if user != nil {
		copy(c[skbMark:skbMark+4], user[skbMark:])
		copy(c[skbPriority:skbPriority+4], user[skbPriority:])
		copy(c[skbIngressIfindex:skbIngressIfindex+4], user[skbIngressIfindex:])
		copy(c[skbCB:skbCB+20], user[skbCB:])
		copy(c[skbTstamp:skbTstamp+8], user[skbTstamp:])
		copy(c[skbGSOSegs:skbGSOSegs+4], user[skbGSOSegs:])
		copy(c[skbGSOSize:skbGSOSize+4], user[skbGSOSize:])
		copy(c[skbHwtstamp:skbHwtstamp+8], user[skbHwtstamp:])
		if w := le.Uint32(user[skbWireLen:]); w != 0 {
			if w < uint32(end-data) || w > 65536 {
				return fmt.Errorf("%w: wire_len %d", ErrInvalidInput, w)
			}
			le.PutUint32(c[skbWireLen:], w)
		}
		if le.Uint32(user[skbGSOSegs:]) > 65535 {
			return fmt.Errorf("%w: gso_segs", ErrInvalidInput)
		}
	}
	p := &r.pkt
	p.Buf, p.Data, p.End, p.Meta, p.MinData, p.MaxEnd, p.XDP = buf, data, end, data, 0, len(buf)-skbTailroom, false
	p.Net = skbHeadroom + ethHLen
	p.Protocol, p.Encapsulated, p.SocketCookie, p.VlanProto, p.VlanTCI = proto, false, 0, 0, 0
	r.low, r.high = skbHeadroom, end
	// What sync would write but the pointers is written above (len,
	// protocol) or zero (the VLAN fields).
	if r.direct {
		r.setPtr(0, p.Addr(p.Data))
		r.setPtr(1, p.Addr(p.End))
		r.setPtr(2, p.Addr(p.Meta))
	}
	r.Packet = p
	r.LDPacket = buf[data:end]
	r.user = user
	return nil
}

// finishSKB is the end of bpf_prog_test_run_skb: for non-L2 types the
// Ethernet header comes back zeroed, and ctx_out carries the fields
// convert_skb_to___skb copies.
func (r *Run) finishSKB() Result {
	p := r.Packet
	start := p.Data
	if l2 := r.typ == SchedCLS || r.typ == SchedACT; !l2 {
		start -= ethHLen
		clear(p.Buf[start:p.Data])
	}
	res := Result{DataOut: p.Buf[start:p.End]}
	if u := r.user; u != nil {
		c := r.Ctx
		for _, f := range [][2]int{{skbMark, 4}, {skbPriority, 4}, {skbIngressIfindex, 4}, {skbIfindex, 4}, {skbTstamp, 8}, {skbCB, 20}, {skbWireLen, 4}, {skbGSOSegs, 4}, {skbHwtstamp, 8}} {
			copy(u[f[0]:f[0]+f[1]], c[f[0]:])
		}
		binary.LittleEndian.PutUint32(u[skbIfindex:], loopbackIfindex)
		res.ContextOut = u
	}
	return res
}
