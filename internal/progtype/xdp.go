package progtype

import (
	"encoding/binary"
	"fmt"
)

const (
	xdpHeadroom = 256 // XDP_PACKET_HEADROOM
	// xdpFrameSize is sizeof(struct xdp_frame), at the start of the
	// headroom.
	xdpFrameSize = 40
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
		if dm != 0 || int(de) != size || d > de || d%4 != 0 || d > 255 {
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
	maxData := pageSize - headroom - skbTailroom
	if size > maxData {
		return fmt.Errorf("%w: %d-byte packet: multi-buffer XDP is not supported (at most %d bytes)", ErrInvalidInput, size, maxData)
	}
	if size < ethHLen {
		return fmt.Errorf("%w: packet of %d bytes is shorter than an Ethernet header", ErrInvalidInput, size)
	}
	frame := headroom + maxData + skbTailroom
	r.l = &xdpLayout
	var buf []byte
	if req.Unobserved {
		buf = r.frame(frame)
		r.ctxLen(XDPMdSize + 3*8)
	} else {
		buf = r.packetBuf(frame)
		copy(buf[headroom:], req.Data)
		c := r.ctxMem(XDPMdSize + 3*8)
		binary.LittleEndian.PutUint32(c[xdpIngressIfindex:], loopbackIfindex)
	}
	p := &r.pkt
	p.Buf, p.Meta, p.Data, p.End, p.MinData, p.MaxEnd, p.XDP = buf, headroom, headroom+meta, headroom+size, xdpFrameSize, frame-skbTailroom, true
	if !req.Unobserved {
		r.low, r.high = headroom, headroom+size
		r.sync()
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
