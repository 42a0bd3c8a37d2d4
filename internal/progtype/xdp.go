package progtype

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfvm/bpfvm/internal/helpers"
)

const (
	xdpHeadroom = 256 // XDP_PACKET_HEADROOM
	// xdpFrameSize is sizeof(struct xdp_frame), at the start of the
	// headroom.
	xdpFrameSize = 40
	// xdpMaxFrags is MAX_SKB_FRAGS: the fragments a test-run packet may
	// have after its frame.
	xdpMaxFrags = 17
)

// XDP actions.
const (
	XDPAborted  = 0
	XDPDrop     = 1
	XDPPass     = 2
	XDPTx       = 3
	XDPRedirect = 4
)

func (r *Run) prepareXDP(req Request) error {
	size := len(req.Data)
	headroom := xdpHeadroom
	var user []byte
	meta := 0
	if req.Context != nil || req.WantContextOut {
		for _, b := range req.Context[min(len(req.Context), XDPMdSize):] {
			if b != 0 {
				return fmt.Errorf("%w: context longer than xdp_md with non-zero tail", ErrInvalidInput)
			}
		}
		user = r.userCtx(XDPMdSize)
		copy(user, req.Context)
	}
	if req.Context != nil {
		le := binary.LittleEndian
		d, de, dm := le.Uint32(user[xdpData:]), le.Uint32(user[xdpDataEnd:]), le.Uint32(user[xdpDataMeta:])
		// The metadata comes out of the headroom, which must keep room
		// for the xdp_frame; an Ethernet header must follow it.
		if dm != 0 || int(de) != size || d > de || d%4 != 0 || d > xdpHeadroom-xdpFrameSize || de-d < ethHLen {
			return fmt.Errorf("%w: xdp_md data %d, data_end %d, data_meta %d for %d bytes", ErrInvalidInput, d, de, dm, size)
		}
		if le.Uint32(user[xdpEgressIfindex:]) != 0 {
			return fmt.Errorf("%w: xdp_md egress_ifindex must be 0", ErrInvalidInput)
		}
		ifi, q := le.Uint32(user[xdpIngressIfindex:]), le.Uint32(user[xdpRxQueueIndex:])
		if ifi == 0 && q != 0 {
			return fmt.Errorf("%w: rx_queue_index without ingress_ifindex", ErrInvalidInput)
		}
		if ifi > 1 || q > 0 {
			return fmt.Errorf("%w: ingress_ifindex %d queue %d: bpfvm has only the loopback device", ErrInvalidInput, ifi, q)
		}
		meta = int(d)
		headroom -= meta
	}
	// The frame holds at most maxData bytes (metadata included); the rest
	// goes to fragments of a page each, at most MAX_SKB_FRAGS of them
	// (bpf_prog_test_run_xdp; the kernel answers ENOMEM beyond).
	maxData := pageSize - headroom - skbTailroom
	if limit := maxData + xdpMaxFrags*helpers.FragSize; size > limit {
		return fmt.Errorf("%w: %d-byte packet: the kernel takes at most %d (%d in the frame, %d fragments of %d)", ErrInvalidInput, size, limit, maxData, xdpMaxFrags, helpers.FragSize)
	}
	if size < ethHLen {
		return fmt.Errorf("%w: packet of %d bytes is shorter than an Ethernet header", ErrInvalidInput, size)
	}
	linear := min(size, maxData)
	frame := headroom + maxData + skbTailroom
	r.l = &xdpLayout
	var buf []byte
	if req.Unobserved {
		buf = r.frame(frame)
		r.ctxLen(XDPMdSize + 3*8)
	} else {
		buf = r.packetBuf(frame, headroom, req.Data[:linear])
		c := r.ctxMem(XDPMdSize + 3*8)
		binary.LittleEndian.PutUint32(c[xdpIngressIfindex:], loopbackIfindex)
	}
	p := &r.pkt
	p.Buf, p.Meta, p.Data, p.End, p.MinData, p.MaxEnd, p.XDP = buf, headroom, headroom+meta, headroom+linear, xdpFrameSize, frame-skbTailroom, true
	p.Frags = nil
	if size > linear && !req.Unobserved {
		r.frags = append(r.frags[:0], req.Data[linear:]...)
		p.Frags = r.frags
	}
	if !req.Unobserved {
		r.low, r.high = headroom, headroom+linear
		// The pointers, as sync writes them (setPtr's slots 0-2).
		base := p.Addr(0)
		ptrs := r.Ctx[XDPMdSize : XDPMdSize+3*8]
		binary.LittleEndian.PutUint64(ptrs[0:], base+uint64(p.Data))
		binary.LittleEndian.PutUint64(ptrs[8:], base+uint64(p.End))
		binary.LittleEndian.PutUint64(ptrs[16:], base+uint64(p.Meta))
	}
	r.Packet = p
	r.LDPacket = buf
	r.user = user
	return nil
}

// finishXDP is the end of bpf_prog_test_run_xdp: data_out runs from the
// metadata to the end; ctx_out has data and data_end relative to the
// metadata.
func (r *Run) finishXDP() Result {
	p := r.Packet
	res := Result{DataOut: p.Buf[p.Meta:p.End]}
	if len(p.Frags) > 0 {
		// bpf_test_finish copies the linear part, then each fragment.
		r.out = append(append(r.out[:0], res.DataOut...), p.Frags...)
		res.DataOut = r.out
	}
	if u := r.user; u != nil {
		binary.LittleEndian.PutUint32(u[xdpData:], uint32(p.Data-p.Meta))
		binary.LittleEndian.PutUint32(u[xdpDataEnd:], uint32(p.End-p.Meta))
		res.ContextOut = u
	}
	return res
}

// Finish collects the outputs of a run.
func (r *Run) Finish() Result {
	switch {
	case r.typ == XDP:
		return r.finishXDP()
	case r.l == &skbLayout:
		return r.finishSKB()
	}
	return Result{ContextOut: r.Ctx}
}
