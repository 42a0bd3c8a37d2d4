//go:build ignore

// gen writes sample.pcap, the capture the README's demo filters: 1,000
// Ethernet frames of TCP (web, ssh, with SYN/ACK/FIN/RST mixes), UDP (DNS),
// ICMP echo, IPv6 and ARP traffic, deterministic from a fixed seed.
//
//	go run gen.go
package main

import (
	"log"
	"math/rand"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	f, err := os.Create("sample.pcap")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		log.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	macA, _ := net.ParseMAC("02:00:00:00:00:0a")
	macB, _ := net.ParseMAC("02:00:00:00:00:0b")
	hosts := []net.IP{net.IPv4(10, 0, 0, 1), net.IPv4(10, 0, 0, 2), net.IPv4(192, 168, 1, 7), net.IPv4(8, 8, 8, 8)}
	for n := 0; n < 1000; n++ {
		eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
		src, dst := hosts[rng.Intn(len(hosts))], hosts[rng.Intn(len(hosts))]
		ip4 := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src, DstIP: dst, Id: uint16(n)}
		var stack []gopacket.SerializableLayer
		payload := gopacket.Payload(make([]byte, rng.Intn(200)))
		switch k := rng.Intn(10); {
		case k < 5:
			ip4.Protocol = layers.IPProtocolTCP
			ports := []layers.TCPPort{80, 443, 22, 8080}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(1024 + rng.Intn(60000)), DstPort: ports[rng.Intn(len(ports))],
				Seq: rng.Uint32(), SYN: rng.Intn(4) == 0, ACK: rng.Intn(2) == 0, FIN: rng.Intn(8) == 0, RST: rng.Intn(16) == 0, PSH: rng.Intn(3) == 0, Window: 65535}
			tcp.SetNetworkLayerForChecksum(ip4)
			stack = []gopacket.SerializableLayer{eth, ip4, tcp, payload}
		case k < 7:
			ip4.Protocol = layers.IPProtocolUDP
			udp := &layers.UDP{SrcPort: layers.UDPPort(1024 + rng.Intn(60000)), DstPort: 53}
			udp.SetNetworkLayerForChecksum(ip4)
			stack = []gopacket.SerializableLayer{eth, ip4, udp, payload}
		case k < 8:
			ip4.Protocol = layers.IPProtocolICMPv4
			icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: uint16(n)}
			stack = []gopacket.SerializableLayer{eth, ip4, icmp, payload}
		case k < 9:
			eth.EthernetType = layers.EthernetTypeIPv6
			ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
				SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
			tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true, Window: 65535}
			tcp.SetNetworkLayerForChecksum(ip6)
			stack = []gopacket.SerializableLayer{eth, ip6, tcp, payload}
		default:
			eth.EthernetType = layers.EthernetTypeARP
			eth.DstMAC = layers.EthernetBroadcast
			arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: src.To4(), DstHwAddress: make([]byte, 6), DstProtAddress: dst.To4()}
			stack = []gopacket.SerializableLayer{eth, arp}
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, stack...); err != nil {
			log.Fatal(err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(n) * time.Millisecond), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			log.Fatal(err)
		}
	}
}
