package header

import (
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// Benchmarks of the per-packet header work of the data path: parsing and
// validating the headers of an inbound full-sized TCP segment, and
// encoding those of an outbound one. Each must allocate nothing.

// benchFrame returns an Ethernet frame carrying an IPv4 packet with a TCP
// segment of 1460 bytes of data, checksums set.
func benchFrame() []byte {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	const payload = 1460
	b := make([]byte, EthernetMinimumSize+IPv4MinimumSize+TCPMinimumSize+payload)
	eth := EthernetFields{Destination: tcpip.LinkAddress{2, 0, 0, 0, 0, 2}, Source: tcpip.LinkAddress{2, 0, 0, 0, 0, 1}, Type: tcpip.IPv4ProtocolNumber}
	eth.Encode(b)
	ipf := IPv4Fields{TotalLength: uint16(len(b) - EthernetMinimumSize), ID: 7, TTL: 64, Protocol: tcpip.TCPProtocolNumber, Source: src, Destination: dst}
	ipf.Encode(b[EthernetMinimumSize:])
	seg := b[EthernetMinimumSize+IPv4MinimumSize:]
	tf := TCPFields{SrcPort: 40000, DstPort: 80, SeqNum: 1, AckNum: 1, Flags: TCPFlagACK, WindowSize: 65535}
	tf.Encode(seg)
	for i := range payload {
		seg[TCPMinimumSize+i] = byte(i)
	}
	TCP(seg).SetChecksum(TCP(seg).CalculateChecksum(src, dst))
	return b
}

// BenchmarkParseHeaders parses and validates the Ethernet, IPv4 and TCP
// headers of a frame, checksums of IPv4 and TCP (over the 1460-byte
// payload) included, as the inbound path does.
func BenchmarkParseHeaders(b *testing.B) {
	frame := benchFrame()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		eth, err := ParseEthernet(frame)
		if err != nil || eth.Type() != tcpip.IPv4ProtocolNumber {
			b.Fatal("ethernet", err)
		}
		ip, err := ParseIPv4(frame[EthernetMinimumSize:])
		if err != nil || !ip.IsChecksumValid() {
			b.Fatal("ipv4", err)
		}
		t, err := ParseTCP(frame[EthernetMinimumSize+ip.HeaderLength() : EthernetMinimumSize+int(ip.TotalLength())])
		if err != nil || !t.IsChecksumValid(ip.Source(), ip.Destination()) {
			b.Fatal("tcp", err)
		}
	}
}

// BenchmarkEncodeHeaders encodes the Ethernet, IPv4 and TCP headers of a
// full-sized segment, with the TCP checksum computed from a precomputed
// payload sum (as the send path does) and the IPv4 header checksum.
func BenchmarkEncodeHeaders(b *testing.B) {
	frame := benchFrame()
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	payloadSum := Checksum(frame[EthernetMinimumSize+IPv4MinimumSize+TCPMinimumSize:], 0)
	eth := EthernetFields{Destination: tcpip.LinkAddress{2, 0, 0, 0, 0, 2}, Source: tcpip.LinkAddress{2, 0, 0, 0, 0, 1}, Type: tcpip.IPv4ProtocolNumber}
	ipf := IPv4Fields{TotalLength: uint16(len(frame) - EthernetMinimumSize), TTL: 64, Protocol: tcpip.TCPProtocolNumber, Source: src, Destination: dst}
	tf := TCPFields{SrcPort: 40000, DstPort: 80, Flags: TCPFlagACK, WindowSize: 65535}
	b.ReportAllocs()
	seq := uint32(1)
	for b.Loop() {
		seq += 1460
		tf.SeqNum = seqnum.Value(seq)
		t := tf.Encode(frame[EthernetMinimumSize+IPv4MinimumSize:])
		t.SetChecksum(t.CalculateChecksumPartial(src, dst, 1460, payloadSum))
		ipf.ID++
		ipf.Encode(frame[EthernetMinimumSize:])
		eth.Encode(frame)
	}
}
