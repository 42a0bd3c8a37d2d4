package cbpf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBatchLengths is returned by MatchBatch when its slices' lengths do
// not match.
var ErrBatchLengths = errors.New("cbpf: batch slices of different lengths")

// BatchError is MatchBatch's error for a packet whose run failed.
type BatchError struct {
	Index int   // the packet's index in the batch
	Err   error // the error Match gives for the packet
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("cbpf: packet %d of the batch: %v", e.Index, e.Err)
}

// Unwrap returns the packet's error.
func (e *BatchError) Unwrap() error { return e.Err }

// batchArgs checks MatchBatch's slices.
func batchArgs(pkts [][]byte, wireLens, verdicts []uint32) error {
	if len(verdicts) != len(pkts) || wireLens != nil && len(wireLens) != len(pkts) {
		return fmt.Errorf("%w: %d packets, %d wire lengths, %d verdicts", ErrBatchLengths, len(pkts), len(wireLens), len(verdicts))
	}
	return nil
}

// MatchBatch matches each packet of pkts and stores its verdict in
// verdicts[i], exactly as Match(pkts[i], md) would return it, where md is
// nil if wireLens is nil and &Metadata{WireLen: wireLens[i]} otherwise.
// verdicts, and wireLens if not nil, must be as long as pkts (else an
// error wrapping ErrBatchLengths, before any packet runs).
//
// It stops at the first packet whose run fails and returns a *BatchError
// naming it, with Match's error; the verdicts of the packets before it
// are stored, the others left as they were. On EngineJIT, a program
// without len loads or helper calls matches the whole batch in native
// calls of many packets each (the generated code loops over them); the
// other engines loop here, without Match's per-call overhead.
func (m *Matcher) MatchBatch(pkts [][]byte, wireLens, verdicts []uint32) error {
	if err := batchArgs(pkts, wireLens, verdicts); err != nil {
		return err
	}
	if c := m.classic; c != nil {
		md := (*Metadata)(nil)
		if wireLens != nil {
			md = &m.bmd
		}
		for i, pkt := range pkts {
			if md != nil {
				md.WireLen = wireLens[i]
			}
			if g := c.whole; g != nil {
				if v, _, res := g.run(pkt, 0); res == groupDone {
					verdicts[i] = v
					continue
				}
			}
			v, done := c.exec(pkt, md, &m.st, true)
			if !done {
				v = c.finish(pkt, md, &m.st)
			}
			verdicts[i] = v
		}
		return nil
	}
	err := m.w.matchBatch(pkts, wireLens, verdicts, !m.f.readsLen)
	m.syncFast()
	return err
}

// MatchBatch is Matcher.MatchBatch on a machine of the filter's.
func (f *Filter) MatchBatch(pkts [][]byte, wireLens, verdicts []uint32) error {
	if f.classic != nil {
		m := Matcher{f: f, classic: f.classic, st: classicState{groups: f.classic.groups}}
		return m.MatchBatch(pkts, wireLens, verdicts)
	}
	if err := batchArgs(pkts, wireLens, verdicts); err != nil {
		return err
	}
	w := f.getWorker()
	err := w.matchBatch(pkts, wireLens, verdicts, !f.readsLen)
	f.putWorker(w)
	return err
}

// matchBatch is MatchBatch on an eBPF engine's machine. native: the
// program reads no length, so the filter entry's batch can run it.
func (w *worker) matchBatch(pkts [][]byte, wireLens, verdicts []uint32, native bool) error {
	if !w.zeroCtx {
		// Metadata with only WireLen set differs from none only in the
		// length, written per packet below.
		noMetadata.PutContext(w.ctx, 0, ContextCookie(w.ctx))
		w.zeroCtx = true
	}
	if w.fvm != nil && native {
		n, err := w.fvm.RunBatch(pkts, verdicts)
		if err != nil {
			return &BatchError{Index: n, Err: err}
		}
		return nil
	}
	if w.ivm != nil && !w.readsLen && !w.callsHelpers {
		// Nothing to write per packet: the context is that of nil
		// metadata, and the length word is not read.
		for i, pkt := range pkts {
			r0, err := w.ivm.RunWithPacket(w.ctx, pkt)
			if err != nil {
				return &BatchError{Index: i, Err: err}
			}
			verdicts[i] = uint32(r0)
		}
		return nil
	}
	for i, pkt := range pkts {
		n := uint32(len(pkt))
		if wireLens != nil && wireLens[i] != 0 {
			n = wireLens[i]
		}
		binary.LittleEndian.PutUint32(w.ctx[ctxLen:], n)
		var r0 uint64
		var err error
		if w.fvm != nil {
			var status uint64
			if r0, status = w.fvm.RunStatus(pkt); status != 0 {
				err = w.fvm.StatusError(status)
			}
		} else {
			w.pkt = pkt
			r0, err = w.vm.RunWithPacket(w.ctx, pkt)
			w.pkt = nil
		}
		if err != nil {
			return &BatchError{Index: i, Err: err}
		}
		verdicts[i] = uint32(r0)
	}
	return nil
}
