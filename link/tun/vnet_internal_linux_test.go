package tun

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
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
func vnetFrame(t testing.TB, hdrSize int, proto tcpip.TransportProtocolNumber, src, dst netip.Addr, n, pad int) ([]byte, int) {
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

// txSeg builds an outbound TCP segment as the stack hands it to the link:
// Ethernet, IP and TCP headers (with a timestamp option) in the header
// area, complete checksums, data in the payload. mutate, if not nil, may
// change the headers before the checksums are computed.
func txSeg(t *testing.T, v6 bool, seq uint32, n int, flags header.TCPFlags, mutate func(h []byte, l3, l4 int)) *buffer.Packet {
	t.Helper()
	src, dst, etype, ipLen := vnSrc4, vnDst4, tcpip.IPv4ProtocolNumber, header.IPv4MinimumSize
	if v6 {
		src, dst, etype, ipLen = vnSrc6, vnDst6, tcpip.IPv6ProtocolNumber, header.IPv6MinimumSize
	}
	opts := []byte{1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9} // NOP NOP TS
	l3, l4 := header.EthernetMinimumSize, header.EthernetMinimumSize+ipLen
	thl := header.TCPMinimumSize + len(opts)
	h := make([]byte, l4+thl)
	copy(h, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(h[12:], uint16(etype))
	if v6 {
		ipf := header.IPv6Fields{PayloadLength: uint16(thl + n), NextHeader: tcpip.TCPProtocolNumber, HopLimit: 64, Src: src, Dst: dst}
		ipf.Encode(h[l3:])
	} else {
		ipf := header.IPv4Fields{TotalLength: uint16(ipLen + thl + n), ID: uint16(seq), Flags: header.IPv4FlagDontFragment, TTL: 64, Protocol: tcpip.TCPProtocolNumber, Source: src, Destination: dst}
		ipf.Encode(h[l3:])
	}
	tf := header.TCPFields{SrcPort: 80, DstPort: 40000, SeqNum: seqnum.Value(seq), AckNum: 77, Flags: flags, WindowSize: 500, Options: opts}
	tf.Encode(h[l4:])
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(seq) + byte(i*13)
	}
	if mutate != nil {
		mutate(h, l3, l4)
	}
	if !v6 && h[l3] == 0x45 {
		ip := header.IPv4(h[l3:])
		ip.SetChecksum(ip.CalculateChecksum())
	}
	tc := header.TCP(h[l4:])
	tc.SetChecksum(0)
	tc.SetChecksum(tc.CalculateChecksumPartial(src, dst, n, header.Checksum(data, 0)))
	pkt := buffer.NewPacket(len(h), nil)
	copy(pkt.Prepend(len(h)), h)
	pkt.Payload.Append(data)
	t.Cleanup(pkt.Release)
	return pkt
}

// A run of in-order segments of one connection, PSH on each, the last
// short, becomes one super-segment: the first headers with the lengths
// of the whole, PSH, the IPv4 header checksum right, the TCP checksum
// partial (completing it gives the checksum of the whole), the data in
// order, and a virtio-net header that tells the kernel how to cut it.
func TestTxSuperSegment(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		const mss = 1448
		sizes := []int{mss, mss, mss, mss, mss, 1000}
		var pkts []*buffer.Packet
		var want []byte
		seq := uint32(0xfffff000) // wraps inside the run
		for _, n := range sizes {
			p := txSeg(t, v6, seq, n, header.TCPFlagACK|header.TCPFlagPSH, nil)
			want = append(want, p.Payload.Flatten()...)
			pkts = append(pkts, p)
			seq += uint32(n)
		}
		if k := runLength(pkts, TAP, 65536); k != len(pkts) {
			t.Fatalf("v6 %v: runLength = %d, want %d", v6, k, len(pkts))
		}
		buf := make([]byte, 65536)
		n := buildSuperSegment(pkts, TAP, header.VirtioNetMrgRxbufSize, buf)
		vh, err := header.ParseVirtioNet(buf[:n], header.VirtioNetMrgRxbufSize)
		if err != nil {
			t.Fatal(err)
		}
		frame := buf[header.VirtioNetMrgRxbufSize:n]
		first, _ := parseTCPSeg(pkts[0], TAP)
		wantGSO := header.VirtioNetGSOTCPv4
		if v6 {
			wantGSO = header.VirtioNetGSOTCPv6
		}
		wantVH := header.VirtioNetFields{Flags: header.VirtioNetNeedsCsum, GSOType: wantGSO, HdrLen: uint16(len(first.hdr)),
			GSOSize: mss, CsumStart: uint16(first.l4), CsumOffset: 16}
		if got := vh.Fields(); got != wantVH {
			t.Errorf("v6 %v: virtio-net header %+v, want %+v", v6, got, wantVH)
		}
		if got := frame[len(first.hdr):]; !bytes.Equal(got, want) {
			t.Errorf("v6 %v: super-segment data differs (%d bytes, want %d)", v6, len(got), len(want))
		}
		var src, dst netip.Addr
		if v6 {
			ip := header.IPv6(frame[first.l3:])
			if int(ip.PayloadLength()) != len(frame)-first.l4 {
				t.Errorf("IPv6 Payload Length %d, want %d", ip.PayloadLength(), len(frame)-first.l4)
			}
			src, dst = ip.Source(), ip.Destination()
		} else {
			ip := header.IPv4(frame[first.l3:])
			if int(ip.TotalLength()) != len(frame)-first.l3 || !ip.IsChecksumValid() || ip.ID() != 0xf000 {
				t.Errorf("IPv4 Total Length %d (want %d), checksum valid %v, ID %#x", ip.TotalLength(), len(frame)-first.l3, ip.IsChecksumValid(), ip.ID())
			}
			src, dst = ip.Source(), ip.Destination()
		}
		tc := header.TCP(frame[first.l4:])
		if tc.Flags() != header.TCPFlagACK|header.TCPFlagPSH || uint32(tc.SequenceNumber()) != 0xfffff000 {
			t.Errorf("TCP flags %v seq %#x", tc.Flags(), tc.SequenceNumber())
		}
		if !completeChecksum(frame, TAP, first.l4, 16) || !tc.IsChecksumValid(src, dst) {
			t.Errorf("v6 %v: the completed checksum of the super-segment is wrong", v6)
		}
	}
}

// What may not be merged is written alone; a short segment ends a run.
func TestTxRunLength(t *testing.T) {
	const mss = 1000
	ack := header.TCPFlagACK
	first := func() *buffer.Packet { return txSeg(t, false, 5000, mss, ack, nil) }
	for _, tc := range []struct {
		name string
		pkts []*buffer.Packet
		want int
	}{
		{"one", []*buffer.Packet{first()}, 1},
		{"two", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack, nil)}, 2},
		{"gap", []*buffer.Packet{first(), txSeg(t, false, 6001, mss, ack, nil)}, 1},
		{"longer second", []*buffer.Packet{first(), txSeg(t, false, 6000, mss+1, ack, nil)}, 1},
		{"short ends the run", []*buffer.Packet{first(), txSeg(t, false, 6000, 10, ack, nil), txSeg(t, false, 6010, mss, ack, nil)}, 2},
		{"FIN", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack|header.TCPFlagFIN, nil)}, 1},
		{"SYN first", []*buffer.Packet{txSeg(t, false, 5000, mss, ack|header.TCPFlagSYN, nil), txSeg(t, false, 6000, mss, ack, nil)}, 1},
		{"CWR", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack|header.TCPFlagCWR, nil)}, 1},
		{"no ACK", []*buffer.Packet{txSeg(t, false, 5000, mss, 0, nil), txSeg(t, false, 6000, mss, 0, nil)}, 1},
		{"pure ACK", []*buffer.Packet{txSeg(t, false, 5000, 0, ack, nil), txSeg(t, false, 5000, 0, ack, nil)}, 1},
		{"other port", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack, func(h []byte, _, l4 int) { h[l4+1]++ })}, 1},
		{"other ack", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack, func(h []byte, _, l4 int) { h[l4+11]++ })}, 1},
		{"other window", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack, func(h []byte, _, l4 int) { h[l4+15]++ })}, 1},
		{"other timestamp", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack, func(h []byte, _, l4 int) { h[l4+27]++ })}, 1},
		{"other TTL", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack, func(h []byte, l3, _ int) { h[l3+8]-- })}, 1},
		{"other ECN", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack, func(h []byte, l3, _ int) { h[l3+1] |= 3 })}, 1},
		{"other MAC", []*buffer.Packet{first(), txSeg(t, false, 6000, mss, ack, func(h []byte, _, _ int) { h[0]++ })}, 1},
		{"fragment", []*buffer.Packet{txSeg(t, false, 5000, mss, ack, func(h []byte, l3, _ int) { h[l3+6] = 0x20 }), txSeg(t, false, 6000, mss, ack, nil)}, 1},
		{"IPv4 then IPv6", []*buffer.Packet{first(), txSeg(t, true, 6000, mss, ack, nil)}, 1},
		{"IPv6 flow label", []*buffer.Packet{txSeg(t, true, 5000, mss, ack, nil), txSeg(t, true, 6000, mss, ack, func(h []byte, l3, _ int) { h[l3+3]++ })}, 1},
		{"IPv6 two", []*buffer.Packet{txSeg(t, true, 5000, mss, ack, nil), txSeg(t, true, 6000, mss, ack, nil)}, 2},
		{"not TCP", []*buffer.Packet{txSeg(t, false, 5000, mss, ack, func(h []byte, l3, _ int) { h[l3+9] = 17 }), txSeg(t, false, 6000, mss, ack, nil)}, 1},
	} {
		if got := runLength(tc.pkts, TAP, 65536); got != tc.want {
			t.Errorf("%s: runLength = %d, want %d", tc.name, got, tc.want)
		}
	}
	// The frame must fit the buffer, and the IP packet 64 KiB.
	var many []*buffer.Packet
	for i := range 80 {
		many = append(many, txSeg(t, false, 5000+uint32(i*mss), mss, ack, nil))
	}
	if got := runLength(many, TAP, 10*mss); got != 9 {
		t.Errorf("runLength within %d bytes = %d, want 9", 10*mss, got)
	}
	if got := runLength(many, TAP, 1<<20); got != 65 {
		t.Errorf("runLength for a 64 KiB IP packet = %d, want 65", got)
	}
}

// Whatever the kernel (or a corrupted read) puts before and in a frame,
// honouring the header never panics, and a completed checksum lies inside
// the frame.
func FuzzHonourVnetHdr(f *testing.F) {
	b, l4 := vnetFrame(f, header.VirtioNetMrgRxbufSize, tcpip.TCPProtocolNumber, vnSrc4, vnDst4, 40, 3)
	vf := header.VirtioNetFields{Flags: header.VirtioNetNeedsCsum, CsumStart: uint16(l4), CsumOffset: 16}
	vf.Encode(b, header.VirtioNetMrgRxbufSize)
	f.Add(b, false)
	f.Add(b[:20], true)
	f.Add([]byte{1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, b []byte, tun bool) {
		mode := TAP
		if tun {
			mode = TUN
		}
		e := &Endpoint{dev: &Device{offload: OffloadCsum | OffloadTSO4 | OffloadTSO6}, mode: mode, vnet: header.VirtioNetMrgRxbufSize}
		orig := append([]byte(nil), b...)
		ok := e.honourVnetHdr(b)
		if len(b) < header.VirtioNetMrgRxbufSize {
			if ok {
				t.Fatal("accepted a read shorter than the header")
			}
			return
		}
		// Only the two checksum bytes may change.
		diff := 0
		for i := range b {
			if b[i] != orig[i] {
				diff++
			}
		}
		if diff > 2 || (!ok && diff != 0) {
			t.Fatalf("%d bytes changed (accepted %v)", diff, ok)
		}
	})
}
