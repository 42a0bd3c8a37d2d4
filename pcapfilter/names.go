package pcapfilter

// Names are resolved from small built-in tables instead of the system's
// /etc/services, /etc/protocols and DNS, so a filter compiles the same way
// everywhere. Host names are not resolved at all: use numeric addresses.

// service is a well-known port and the transport protocols it is defined
// for (as in Debian's /etc/services, which tcpdump uses on this system).
type service struct {
	port     uint32
	tcp, udp bool
}

var services = map[string]service{
	"echo": {7, true, true}, "discard": {9, true, true}, "daytime": {13, true, true},
	"ftp-data": {20, true, false}, "ftp": {21, true, false}, "ssh": {22, true, false},
	"telnet": {23, true, false}, "smtp": {25, true, false}, "mail": {25, true, false},
	"domain": {53, true, true}, "bootps": {67, false, true}, "bootpc": {68, false, true},
	"tftp": {69, false, true}, "http": {80, true, false}, "www": {80, true, false},
	"kerberos": {88, true, true}, "pop3": {110, true, false}, "sunrpc": {111, true, true},
	"portmapper": {111, true, true}, "ntp": {123, false, true}, "netbios-ns": {137, false, true},
	"imap2": {143, true, false}, "imap": {143, true, false}, "snmp": {161, true, true},
	"bgp": {179, true, false}, "ldap": {389, true, true}, "https": {443, true, true},
	"isakmp": {500, false, true}, "syslog": {514, false, true}, "rsync": {873, true, false},
	"nfs": {2049, true, true}, "mysql": {3306, true, false}, "sip": {5060, true, true},
	"postgresql": {5432, true, false}, "postgres": {5432, true, false}, "x11": {6000, true, false},
}

// ipProtocols are IP protocol numbers by name (as in /etc/protocols).
var ipProtocols = map[string]uint32{
	"ip": 0, "hopopt": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6,
	"egp": 8, "igp": 9, "pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27,
	"iso-tp4": 29, "dccp": 33, "xtp": 36, "ddp": 37, "idpr-cmtp": 38, "ipv6": 41,
	"ipv6-route": 43, "ipv6-frag": 44, "idrp": 45, "rsvp": 46, "gre": 47, "esp": 50,
	"ah": 51, "skip": 57, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60,
	"rspf": 73, "vmtp": 81, "eigrp": 88, "ospf": 89, "ax.25": 93, "ipip": 94,
	"etherip": 97, "encap": 98, "pim": 103, "ipcomp": 108, "vrrp": 112, "l2tp": 115,
	"isis": 124, "sctp": 132, "fc": 133, "mobility-header": 135, "udplite": 136,
	"mpls-in-ip": 137, "manet": 138, "hip": 139, "shim6": 140, "wesp": 141, "rohc": 142,
	"ethernet": 143,
}

// etherProtocols are EtherType values by name (libpcap's own table).
var etherProtocols = map[string]uint32{
	"ip": 0x0800, "ip6": 0x86dd, "arp": 0x0806, "rarp": 0x8035,
	"loopback": 0x9000, "decnet": 0x6003, "lat": 0x6004, "sca": 0x6007,
	"moprc": 0x6002, "mopdl": 0x6001,
	// 802.2 LLC service access points (libpcap's pcap_nametollc).
	"iso": 0xfe, "stp": 0x42, "netbeui": 0xf0,
}
