package cbpf

import (
	"encoding/binary"
	"math/rand/v2"
)

// Metadata is what Linux's ancillary loads (ld [SKF_AD_OFF + n]) and the
// negative-offset loads (SKF_NET_OFF, SKF_LL_OFF) read besides the packet
// bytes: the fields of the sk_buff the kernel runs a socket filter on. The
// zero value is a packet with no metadata (protocol 0, host, ifindex 0...).
//
// Packets are seen as a packet socket (AF_PACKET, SOCK_RAW) sees them: the
// first byte is the first byte of the link-layer header. A VLAN tag the
// kernel has taken out of the frame (hardware offload, or software
// untagging on receive) is reported in VLANTag, VLANTPID and VLANPresent,
// and is no longer in the packet bytes.
type Metadata struct {
	Protocol    uint16 // skb->protocol in host order, e.g. 0x0800 (ETH_P_IP): #proto
	PktType     uint8  // PACKET_HOST 0, BROADCAST 1, MULTICAST 2, OTHERHOST 3, OUTGOING 4 (3 bits): #type
	IfIndex     uint32 // index of the receiving device: #ifidx
	Mark        uint32 // skb->mark: #mark
	Queue       uint16 // skb->queue_mapping: #queue
	HAType      uint16 // device type, ARPHRD_ETHER 1, ARPHRD_LOOPBACK 772: #hatype
	RXHash      uint32 // skb->hash: #rxhash
	CPU         uint32 // the CPU running the filter: #cpu
	VLANTag     uint16 // VLAN TCI of an offloaded tag: #vlan_tci
	VLANTPID    uint16 // VLAN protocol of an offloaded tag, e.g. 0x8100: #vlan_tpid
	VLANPresent bool   // an offloaded VLAN tag is present: #vlanp
	PayOffset   uint32 // offset of the transport payload (skb_get_poff): #poff
	NetOffset   uint32 // offset of the network header in the packet: base of SKF_NET_OFF loads
	// WireLen is the packet's length on the wire, what `ld #len` and
	// `ldx #len` read, when the packet holds only its first bytes (a
	// capture's snapshot length): libpcap's bpf_filter takes the wire
	// length for len and bounds loads by the captured bytes, and so does
	// every engine here. 0 means len(pkt), as for the kernel, which always
	// has the whole packet.
	WireLen uint32
	// Random is the source of #rand (SKF_AD_RANDOM), called once per
	// load; nil means math/rand/v2's generator.
	Random func() uint32
}

// ancillary returns the value an absolute load at SKF_AD_OFF+off yields,
// A and X being the registers before the load (for nla, nlan, xor_x).
func (md *Metadata) ancillary(off uint32, pkt []byte, a, x uint32) uint32 {
	switch off {
	case AncillaryProtocol:
		return uint32(md.Protocol)
	case AncillaryPktType:
		return uint32(md.PktType & 7)
	case AncillaryIfIndex:
		return md.IfIndex
	case AncillaryMark:
		return md.Mark
	case AncillaryQueue:
		return uint32(md.Queue)
	case AncillaryHatype:
		return uint32(md.HAType)
	case AncillaryRXHash:
		return md.RXHash
	case AncillaryCPU:
		return md.CPU
	case AncillaryVLANTag:
		return uint32(md.VLANTag)
	case AncillaryVLANTPID:
		return uint32(md.VLANTPID)
	case AncillaryVLANTagPresent:
		if md.VLANPresent {
			return 1
		}
		return 0
	case AncillaryPayOffset:
		return md.PayOffset
	case AncillaryRandom:
		if md.Random != nil {
			return md.Random()
		}
		return rand.Uint32()
	case AncillaryAlu_XOR_X:
		return a ^ x
	case AncillaryNLAttr:
		return nlaFind(pkt, a, x, false)
	case AncillaryNLAttrNest:
		return nlaFind(pkt, a, x, true)
	}
	return 0
}

var noMetadata Metadata

// packetLen is what len loads read: the wire length if md gives one, else
// the packet's.
func packetLen(pkt []byte, md *Metadata) uint32 {
	if md != nil && md.WireLen != 0 {
		return md.WireLen
	}
	return uint32(len(pkt))
}

// nlaFind is the kernel's bpf_skb_get_nlattr(_nest): find the netlink
// attribute of type x in the attribute stream at offset a of the packet
// (or, nested, inside the attribute at a) and return its offset, 0 if
// none. Netlink headers are in host byte order; bpfvm assumes a
// little-endian host, as amd64 and arm64 are.
func nlaFind(pkt []byte, a, x uint32, nested bool) uint32 {
	const hdr = 4
	n := uint64(len(pkt))
	if n < hdr || uint64(a) > n-hdr {
		return 0
	}
	start, end := uint64(a), n
	if nested {
		l := uint64(binary.LittleEndian.Uint16(pkt[a:]))
		if l > n-uint64(a) {
			return 0
		}
		if l < hdr {
			return 0
		}
		start, end = uint64(a)+hdr, uint64(a)+l
	}
	for p := start; end-p >= hdr; {
		l := uint64(binary.LittleEndian.Uint16(pkt[p:]))
		typ := binary.LittleEndian.Uint16(pkt[p+2:])
		if l < hdr || l > end-p {
			return 0
		}
		if uint32(typ&0x3fff) == x {
			return uint32(p)
		}
		al := (l + 3) &^ 3
		if al >= end-p {
			return 0
		}
		p += al
	}
	return 0
}

// load reads size bytes big-endian at a signed offset, with the kernel's
// meaning of negative offsets; ok is false when the bytes are outside the
// packet (the filter then returns 0).
func load(pkt []byte, md *Metadata, off int32, size int) (uint32, bool) {
	p := int64(off)
	if off < 0 {
		switch {
		case int64(off) >= NetOffset:
			p = int64(md.NetOffset) + int64(off) - NetOffset
		case int64(off) >= LLOffset:
			p = int64(off) - LLOffset
		default:
			return 0, false
		}
	}
	if p < 0 || p+int64(size) > int64(len(pkt)) {
		return 0, false
	}
	switch size {
	case 4:
		return binary.BigEndian.Uint32(pkt[p:]), true
	case 2:
		return uint32(binary.BigEndian.Uint16(pkt[p:])), true
	}
	return uint32(pkt[p]), true
}

var loadSize = [4]int{SizeW >> 3: 4, SizeH >> 3: 2, SizeB >> 3: 1}

// Eval runs a classic program on a packet the simple way, instruction by
// instruction, with Linux's semantics, and returns what the filter
// returns: the number of bytes to keep, 0 to drop. It is the reference the
// translation to eBPF is tested against. md may be nil (no metadata).
//
// Eval never panics. Programs Check accepts get exactly the kernel's
// result; for others, anything the kernel would refuse to load makes Eval
// return 0 when execution reaches it.
func Eval(prog []Instruction, pkt []byte, md *Metadata) uint32 {
	if md == nil {
		md = &noMetadata
	}
	var a, x uint32
	var mem [MemWords]uint32
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		k := ins.K
		switch ins.Op {
		case OpRetK:
			return k
		case OpRetA:
			return a
		case OpLDImm:
			a = k
		case OpLDXImm:
			x = k
		case OpLDLen:
			a = packetLen(pkt, md)
		case OpLDXLen:
			x = packetLen(pkt, md)
		case OpLDMem, OpLDXMem, OpST, OpSTX:
			if k >= MemWords {
				return 0
			}
			switch ins.Op {
			case OpLDMem:
				a = mem[k]
			case OpLDXMem:
				x = mem[k]
			case OpST:
				mem[k] = a
			default:
				mem[k] = x
			}
		case OpTAX:
			x = a
		case OpTXA:
			a = x
		case ClassLD | ModeABS | SizeW, ClassLD | ModeABS | SizeH, ClassLD | ModeABS | SizeB:
			if k >= adOff {
				if !isAncillary(k) {
					return 0
				}
				a = md.ancillary(k-adOff, pkt, a, x)
				continue
			}
			v, ok := load(pkt, md, int32(k), loadSize[(ins.Op&0x18)>>3])
			if !ok {
				return 0
			}
			a = v
		case ClassLD | ModeIND | SizeW, ClassLD | ModeIND | SizeH, ClassLD | ModeIND | SizeB:
			v, ok := load(pkt, md, int32(x+k), loadSize[(ins.Op&0x18)>>3])
			if !ok {
				return 0
			}
			a = v
		case OpLDXMSH:
			v, ok := load(pkt, md, int32(k), 1)
			if !ok {
				return 0
			}
			x = (v & 0xf) << 2
		case OpNeg:
			a = -a
		case OpJA:
			if uint64(k) >= uint64(len(prog)-pc-1) {
				return 0 // past the end (Check refuses it)
			}
			pc += int(k)
		default:
			switch ins.Class() {
			case ClassALU:
				if ins.Op > 0xff || ins.Op&^(0xf0|SrcX) != ClassALU {
					return 0
				}
				src := k
				if ins.Op&SrcX != 0 {
					src = x
				}
				switch ins.Op & 0xf0 {
				case AluADD:
					a += src
				case AluSUB:
					a -= src
				case AluMUL:
					a *= src
				case AluDIV:
					if src == 0 {
						return 0
					}
					a /= src
				case AluMOD:
					if src == 0 {
						return 0
					}
					a %= src
				case AluAND:
					a &= src
				case AluOR:
					a |= src
				case AluXOR:
					a ^= src
				case AluLSH:
					if ins.Op&SrcX == 0 && src >= 32 {
						return 0
					}
					a <<= src & 31
				case AluRSH:
					if ins.Op&SrcX == 0 && src >= 32 {
						return 0
					}
					a >>= src & 31
				default:
					return 0
				}
			case ClassJMP:
				if ins.Op > 0xff || ins.Op&^(0xf0|SrcX) != ClassJMP {
					return 0
				}
				src := k
				if ins.Op&SrcX != 0 {
					src = x
				}
				var cond bool
				switch ins.Op & 0xf0 {
				case JmpJEQ:
					cond = a == src
				case JmpJGT:
					cond = a > src
				case JmpJGE:
					cond = a >= src
				case JmpJSET:
					cond = a&src != 0
				default:
					return 0
				}
				if cond {
					pc += int(ins.Jt)
				} else {
					pc += int(ins.Jf)
				}
			default:
				return 0
			}
		}
	}
	return 0 // fell off the end: Check refuses such programs
}
