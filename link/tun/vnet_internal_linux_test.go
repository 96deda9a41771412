package tun

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

var (
	vnSrc4 = netip.MustParseAddr("10.1.0.1")
	vnDst4 = netip.MustParseAddr("10.1.0.2")
	vnSrc6 = netip.MustParseAddr("fd00::1")
	vnDst6 = netip.MustParseAddr("fd00::2")
)

// vnetFrame builds a virtio-net header of hdrSize bytes followed by an
// Ethernet frame carrying a TCP or UDP packet with payload n bytes long
// over IPv4 or IPv6 (by src's family), all checksums complete, and pad
// bytes of link padding. It returns the whole and the offset of the
// transport header in the frame (after the virtio-net header).
func vnetFrame(t *testing.T, hdrSize int, proto tcpip.TransportProtocolNumber, src, dst netip.Addr, n, pad int) ([]byte, int) {
	t.Helper()
	l3 := header.EthernetMinimumSize
	ipLen := header.IPv4MinimumSize
	etype := tcpip.IPv4ProtocolNumber
	if src.Is6() {
		ipLen, etype = header.IPv6MinimumSize, tcpip.IPv6ProtocolNumber
	}
	thLen := header.TCPMinimumSize
	if proto == tcpip.UDPProtocolNumber {
		thLen = header.UDPMinimumSize
	}
	l4 := l3 + ipLen
	b := make([]byte, hdrSize+l4+thLen+n+pad)
	f := b[hdrSize:]
	binary.BigEndian.PutUint16(f[12:], uint16(etype))
	for i := range n {
		f[l4+thLen+i] = byte(i*7 + 3)
	}
	if src.Is4() {
		ipf := header.IPv4Fields{TotalLength: uint16(ipLen + thLen + n), TTL: 64, Protocol: proto, Source: src, Destination: dst}
		ipf.Encode(f[l3:])
	} else {
		ipf := header.IPv6Fields{PayloadLength: uint16(thLen + n), NextHeader: proto, HopLimit: 64, Src: src, Dst: dst}
		ipf.Encode(f[l3:])
	}
	seg := f[l4 : l4+thLen+n]
	if proto == tcpip.UDPProtocolNumber {
		u := header.UDP(seg)
		u.SetSourcePort(1000)
		u.SetDestinationPort(9)
		u.SetLength(uint16(len(seg)))
		u.SetChecksum(u.CalculateChecksum(src, dst))
	} else {
		tf := header.TCPFields{SrcPort: 1000, DstPort: 80, SeqNum: 1, AckNum: 1, Flags: header.TCPFlagACK, WindowSize: 1000}
		tf.Encode(seg)
		tc := header.TCP(seg)
		tc.SetChecksum(tc.CalculateChecksum(src, dst))
	}
	return b, l4
}

// partial replaces the complete checksum of the transport header at l4
// (field at l4+off) in frame by what Linux leaves with NEEDS_CSUM: the
// folded pseudo-header sum, not complemented (RFC 9293 §3.1, RFC 768).
func partial(frame []byte, l4, off int, proto tcpip.TransportProtocolNumber, src, dst netip.Addr, end int) {
	ps := header.PseudoHeaderChecksum(proto, src, dst, uint32(end-l4))
	binary.BigEndian.PutUint16(frame[l4+off:], ps)
}

// Partial checksums are completed to the checksum the sender would have
// computed, for TCP and UDP over IPv4 and IPv6, with and without link
// padding after the datagram (which must not be summed), and with both
// header sizes.
func TestCompleteChecksum(t *testing.T) {
	for _, tc := range []struct {
		name     string
		proto    tcpip.TransportProtocolNumber
		src, dst netip.Addr
		n, pad   int
	}{
		{"tcp4", tcpip.TCPProtocolNumber, vnSrc4, vnDst4, 1448, 0},
		{"tcp4 odd", tcpip.TCPProtocolNumber, vnSrc4, vnDst4, 999, 0},
		{"tcp4 big", tcpip.TCPProtocolNumber, vnSrc4, vnDst4, 60000, 0},
		{"udp4 padded", tcpip.UDPProtocolNumber, vnSrc4, vnDst4, 5, 21},
		{"tcp6", tcpip.TCPProtocolNumber, vnSrc6, vnDst6, 1200, 0},
		{"udp6 padded", tcpip.UDPProtocolNumber, vnSrc6, vnDst6, 3, 7},
	} {
		for _, hs := range []int{header.VirtioNetSize, header.VirtioNetMrgRxbufSize} {
			b, l4 := vnetFrame(t, hs, tc.proto, tc.src, tc.dst, tc.n, tc.pad)
			off := 16
			if tc.proto == tcpip.UDPProtocolNumber {
				off = 6
			}
			frame := b[hs:]
			want := binary.BigEndian.Uint16(frame[l4+off:])
			partial(frame, l4, off, tc.proto, tc.src, tc.dst, len(frame)-tc.pad)
			for i := range tc.pad {
				frame[len(frame)-1-i] = 0xa5 // padding that would spoil the sum
			}
			vf := header.VirtioNetFields{Flags: header.VirtioNetNeedsCsum, CsumStart: uint16(l4), CsumOffset: uint16(off)}
			vf.Encode(b, hs)
			e := &Endpoint{dev: &Device{}, mode: TAP, vnet: hs}
			if !e.honourVnetHdr(b) {
				t.Errorf("%s/%d: refused", tc.name, hs)
				continue
			}
			if got := binary.BigEndian.Uint16(frame[l4+off:]); got != want {
				t.Errorf("%s/%d: completed checksum %#04x, want %#04x", tc.name, hs, got, want)
			}
			if e.stats.RxCsumCompleted.Load() != 1 {
				t.Errorf("%s/%d: RxCsumCompleted %d", tc.name, hs, e.stats.RxCsumCompleted.Load())
			}
		}
	}
}

// Headers that cannot be honoured are refused: offsets past the datagram,
// a GSO packet on a device that did not offer TSO, UDP GSO types that
// ustack never offers, a read shorter than the header.
func TestHonourVnetHdrRefuses(t *testing.T) {
	b, l4 := vnetFrame(t, header.VirtioNetMrgRxbufSize, tcpip.TCPProtocolNumber, vnSrc4, vnDst4, 100, 4)
	frameLen := len(b) - header.VirtioNetMrgRxbufSize
	tso := &Device{offload: OffloadCsum | OffloadTSO4 | OffloadTSO6}
	for _, tc := range []struct {
		name string
		dev  *Device
		f    header.VirtioNetFields
		b    []byte
		want bool
	}{
		{"plain", &Device{}, header.VirtioNetFields{}, b, true},
		{"data valid", &Device{}, header.VirtioNetFields{Flags: header.VirtioNetDataValid}, b, true},
		{"csum field past the datagram", tso, header.VirtioNetFields{Flags: header.VirtioNetNeedsCsum, CsumStart: uint16(frameLen - 4 - 1), CsumOffset: 0}, b, false},
		{"csum start past the frame", tso, header.VirtioNetFields{Flags: header.VirtioNetNeedsCsum, CsumStart: 0xfff0, CsumOffset: 16}, b, false},
		{"csum offset huge", tso, header.VirtioNetFields{Flags: header.VirtioNetNeedsCsum, CsumStart: uint16(l4), CsumOffset: 0xffff}, b, false},
		{"tso4 without offload", &Device{offload: OffloadCsum}, header.VirtioNetFields{GSOType: header.VirtioNetGSOTCPv4, GSOSize: 1448}, b, false},
		{"tso4", tso, header.VirtioNetFields{GSOType: header.VirtioNetGSOTCPv4, GSOSize: 1448}, b, true},
		{"tso6 ecn", tso, header.VirtioNetFields{GSOType: header.VirtioNetGSOTCPv6 | header.VirtioNetGSOECN, GSOSize: 1448}, b, true},
		{"udp", tso, header.VirtioNetFields{GSOType: header.VirtioNetGSOUDP}, b, false},
		{"udp l4", tso, header.VirtioNetFields{GSOType: header.VirtioNetGSOUDPL4}, b, false},
		{"unknown gso", tso, header.VirtioNetFields{GSOType: 2}, b, false},
		{"short read", tso, header.VirtioNetFields{}, b[:header.VirtioNetMrgRxbufSize-1], false},
	} {
		c := append([]byte(nil), tc.b...)
		if len(c) >= header.VirtioNetMrgRxbufSize {
			tc.f.Encode(c, header.VirtioNetMrgRxbufSize)
		}
		e := &Endpoint{dev: tc.dev, mode: TAP, vnet: header.VirtioNetMrgRxbufSize}
		if got := e.honourVnetHdr(c); got != tc.want {
			t.Errorf("%s: honourVnetHdr = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The end of the datagram comes from its IP header, not the frame; a
// frame whose IP header cannot be read ends where it ends.
func TestIPDatagramEnd(t *testing.T) {
	b4, _ := vnetFrame(t, 0, tcpip.UDPProtocolNumber, vnSrc4, vnDst4, 10, 30)
	b6, _ := vnetFrame(t, 0, tcpip.UDPProtocolNumber, vnSrc6, vnDst6, 10, 30)
	tagged := append(append(append([]byte(nil), b4[:12]...), 0x81, 0x00, 0, 1), b4[12:]...)
	for _, tc := range []struct {
		name  string
		frame []byte
		mode  Mode
		want  int
	}{
		{"ipv4", b4, TAP, len(b4) - 30},
		{"ipv6", b6, TAP, len(b6) - 30},
		{"vlan", tagged, TAP, len(tagged) - 30},
		{"tun ipv4", b4[14:], TUN, len(b4) - 30 - 14},
		{"short", b4[:20], TAP, 20},
		{"arp", append([]byte{12: 0x08, 13: 0x06, 14: 0}, make([]byte, 28)...), TAP, 43},
		{"empty", nil, TUN, 0},
	} {
		if got := ipDatagramEnd(tc.frame, tc.mode); got != tc.want {
			t.Errorf("%s: ipDatagramEnd = %d, want %d", tc.name, got, tc.want)
		}
	}
}
