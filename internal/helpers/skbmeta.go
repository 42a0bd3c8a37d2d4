package helpers

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"

	"github.com/bpfvm/bpfvm/internal/engine"
)

// socketCookies numbers sockets as the kernel's sock_gen_cookie does: a
// process-wide counter, so cookies are unique and never 0.
var socketCookies atomic.Uint64

// getSocketCookie is bpf_get_socket_cookie(skb): BPF_PROG_TEST_RUN gives
// each run's skb a fresh socket, so a run sees one non-zero cookie that
// differs from the previous run's. Without an skb (no socket) it is 0.
func (s *State) getSocketCookie(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	p := s.Packet
	if p == nil || p.XDP {
		return 0, nil
	}
	if p.SocketCookie == 0 {
		p.SocketCookie = socketCookies.Add(1)
	}
	return p.SocketCookie, nil
}

// getHashRecalc is bpf_get_hash_recalc(skb): the flow hash of the packet,
// computed from its flow keys (protocol, addresses and ports, ordered so
// both directions of a flow hash alike, as __flow_hash_consistentify
// orders them), never 0. The kernel keys its jhash with a random
// boot-time secret, so values differ from any kernel's; bpfvm's are
// stable per flow and depend on the runtime's random seed.
func (s *State) getHashRecalc(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	p := s.Packet
	if p == nil || p.XDP {
		return 0, nil
	}
	var buf [flowKeysMax]byte
	keys := flowKeys(p, buf[:])
	h := uint64(14695981039346656037) ^ s.Host.Seed
	for _, b := range keys {
		h ^= uint64(b)
		h *= 1099511628211
	}
	v := uint32(h) ^ uint32(h>>32)
	if v == 0 {
		v = 1
	}
	return uint64(v), nil
}

const flowKeysMax = 2 + 1 + 32 + 4

// flowKeys returns, in out (flowKeysMax bytes), the bytes that identify the packet's flow: the
// protocol, the ordered address pair and the ports (L4 only for TCP, UDP,
// SCTP and UDP-Lite, unfragmented).
func flowKeys(p *Packet, out []byte) []byte {
	binary.BigEndian.PutUint16(out[:], p.Protocol)
	n := p.Net
	pkt := p.Buf[:p.End]
	var src, dst []byte
	var l4 int
	var proto byte
	switch p.Protocol {
	case ethPIP:
		if n < 0 || n+20 > len(pkt) {
			return out[:2]
		}
		ihl := int(pkt[n]&0x0f) * 4
		proto = pkt[n+9]
		src, dst = pkt[n+12:n+16], pkt[n+16:n+20]
		if binary.BigEndian.Uint16(pkt[n+6:])&0x3fff == 0 && ihl >= 20 {
			l4 = n + ihl
		}
	case ethPIPv6:
		if n < 0 || n+40 > len(pkt) {
			return out[:2]
		}
		proto = pkt[n+6]
		src, dst = pkt[n+8:n+24], pkt[n+24:n+40]
		l4 = n + 40
	default:
		return out[:2]
	}
	out[2] = proto
	var sport, dport []byte
	switch proto {
	case 6, 17, 132, 136:
		if l4 > 0 && l4+4 <= len(pkt) {
			sport, dport = pkt[l4:l4+2], pkt[l4+2:l4+4]
		}
	}
	// Order the endpoints so both directions give the same keys.
	if c := bytes.Compare(src, dst); c > 0 || c == 0 && sport != nil && bytes.Compare(sport, dport) > 0 {
		src, dst = dst, src
		sport, dport = dport, sport
	}
	k := append(out[:3], src...)
	k = append(k, dst...)
	if sport != nil {
		k = append(k, sport...)
		k = append(k, dport...)
	}
	return k
}
