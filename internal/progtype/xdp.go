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
)

// XDP actions.
const (
	XDPAborted  = 0
	XDPDrop     = 1
	XDPPass     = 2
	XDPTx       = 3
	XDPRedirect = 4
)

func prepareXDP(req Request) (*Run, error) {
	size := len(req.Data)
	headroom := xdpHeadroom
	var user []byte
	meta := 0
	if req.Context != nil || req.WantContextOut {
		user = make([]byte, XDPMdSize)
		copy(user, req.Context)
		for _, b := range req.Context[min(len(req.Context), XDPMdSize):] {
			if b != 0 {
				return nil, fmt.Errorf("%w: context longer than xdp_md with non-zero tail", ErrInvalidInput)
			}
		}
	}
	if req.Context != nil {
		le := binary.LittleEndian
		d, de, dm := le.Uint32(user[xdpData:]), le.Uint32(user[xdpDataEnd:]), le.Uint32(user[xdpDataMeta:])
		if dm != 0 || int(de) != size || d > de || d%4 != 0 || d > 255 {
			return nil, fmt.Errorf("%w: xdp_md data %d, data_end %d, data_meta %d for %d bytes", ErrInvalidInput, d, de, dm, size)
		}
		if le.Uint32(user[xdpEgressIfindex:]) != 0 {
			return nil, fmt.Errorf("%w: xdp_md egress_ifindex must be 0", ErrInvalidInput)
		}
		ifi, q := le.Uint32(user[xdpIngressIfindex:]), le.Uint32(user[xdpRxQueueIndex:])
		if ifi == 0 && q != 0 {
			return nil, fmt.Errorf("%w: rx_queue_index without ingress_ifindex", ErrInvalidInput)
		}
		if ifi > 1 || q > 0 {
			return nil, fmt.Errorf("%w: ingress_ifindex %d queue %d: bpfvm has only the loopback device", ErrInvalidInput, ifi, q)
		}
		meta = int(d)
		headroom -= meta
	}
	maxData := pageSize - headroom - skbTailroom
	if size > maxData {
		return nil, fmt.Errorf("%w: %d-byte packet: multi-buffer XDP is not supported (at most %d bytes)", ErrInvalidInput, size, maxData)
	}
	if size < ethHLen {
		return nil, fmt.Errorf("%w: packet of %d bytes is shorter than an Ethernet header", ErrInvalidInput, size)
	}
	frame := headroom + maxData + skbTailroom
	buf := make([]byte, frame)
	copy(buf[headroom:], req.Data)
	r := &Run{typ: XDP, l: &xdpLayout, userCtx: user}
	r.Ctx = make([]byte, XDPMdSize+3*8)
	le := binary.LittleEndian
	le.PutUint32(r.Ctx[xdpIngressIfindex:], loopbackIfindex)
	p := &helpers.Packet{Buf: buf, Meta: headroom, Data: headroom + meta, End: headroom + size,
		MinData: xdpFrameSize, MaxEnd: frame - skbTailroom, XDP: true}
	p.Sync = func() {
		r.setPtr(0, p.Addr(p.Data))
		r.setPtr(1, p.Addr(p.End))
		r.setPtr(2, p.Addr(p.Meta))
	}
	p.Sync()
	r.Packet = p
	r.Regions = [][]byte{buf}
	return r, nil
}

// finishXDP is the end of bpf_prog_test_run_xdp: data_out runs from the
// metadata to the end; ctx_out has data and data_end relative to the
// metadata.
func (r *Run) finishXDP() Result {
	p := r.Packet
	res := Result{DataOut: append([]byte(nil), p.Buf[p.Meta:p.End]...)}
	if r.userCtx != nil {
		u := append([]byte(nil), r.userCtx...)
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
	return Result{ContextOut: append([]byte(nil), r.Ctx...)}
}
