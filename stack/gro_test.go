package stack

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// groSeg describes a segment for the GRO tests; the zero value of each
// field is that of a plain bulk-transfer segment.
type groSeg struct {
	seq      seqnum.Value
	n        int // payload bytes
	flags    header.TCPFlags
	ack      seqnum.Value
	wnd      uint16
	tos, ttl uint8
	df       bool
	src      string
	sport    uint16
	opts     []byte
	ipOpts   []byte
	frag     bool
	badSum   bool
	typ      buffer.PacketType
	proto    tcpip.TransportProtocolNumber
}

var groTS = []byte{1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9} // NOP NOP timestamps

// groPacket builds s as an inbound packet in the form a NIC sees after
// the link layer: the Payload starts at the IPv4 header, in one unshared
// chunk, as a pipe delivers it.
func groPacket(s groSeg) *buffer.Packet {
	if s.flags == 0 {
		s.flags = header.TCPFlagACK
	}
	if s.ack == 0 {
		s.ack = 5000
	}
	if s.wnd == 0 {
		s.wnd = 1000
	}
	if s.ttl == 0 {
		s.ttl = 64
	}
	if s.src == "" {
		s.src = "10.0.0.1"
	}
	if s.sport == 0 {
		s.sport = 40000
	}
	if s.opts == nil {
		s.opts = groTS
	}
	if s.proto == 0 {
		s.proto = tcpip.TCPProtocolNumber
	}
	tf := header.TCPFields{SrcPort: s.sport, DstPort: 80, SeqNum: s.seq, AckNum: s.ack, Flags: s.flags, WindowSize: s.wnd, Options: s.opts}
	ipf := header.IPv4Fields{TOS: s.tos, TTL: s.ttl, Protocol: s.proto, ID: uint16(s.seq),
		Source: netip.MustParseAddr(s.src), Destination: netip.MustParseAddr("10.0.0.2"), Options: s.ipOpts}
	if s.df {
		ipf.Flags = header.IPv4FlagDontFragment
	}
	if s.frag {
		ipf.Flags = header.IPv4FlagMoreFragments
	}
	ipf.TotalLength = uint16(ipf.Size() + tf.Size() + s.n)
	b := make([]byte, int(ipf.TotalLength))
	ip := ipf.Encode(b)
	tf.Encode(b[len(ip):])
	for i := range s.n {
		b[len(ip)+tf.Size()+i] = byte(uint32(s.seq) + uint32(i))
	}
	if s.badSum {
		b[10] ^= 0xff
	}
	p := buffer.NewPacketFromBytes(0, b)
	p.NetworkProtocol = tcpip.IPv4ProtocolNumber
	p.Type = s.typ
	return p
}

func TestGROMergeRules(t *testing.T) {
	const mss = 1000
	seg := func(i int) groSeg { return groSeg{seq: seqnum.Value(1 + i*mss), n: mss} }
	with := func(i int, f func(*groSeg)) groSeg { s := seg(i); f(&s); return s }
	for _, tc := range []struct {
		name string
		segs []groSeg
		want []int // segments per packet left
	}{
		{"in order", []groSeg{seg(0), seg(1), seg(2)}, []int{3}},
		{"PSH merged", []groSeg{seg(0), with(1, func(s *groSeg) { s.flags = header.TCPFlagACK | header.TCPFlagPSH }), seg(2)}, []int{3}},
		{"short ends the run", []groSeg{seg(0), with(1, func(s *groSeg) { s.n = 10 }), seg(2)}, []int{2, 1}},
		{"longer than the first", []groSeg{with(0, func(s *groSeg) { s.n = 500 }), with(0, func(s *groSeg) { s.seq = 501 })}, []int{1, 1}},
		{"gap", []groSeg{seg(0), seg(2)}, []int{1, 1}},
		{"retransmission", []groSeg{seg(0), seg(0)}, []int{1, 1}},
		{"pure ACK", []groSeg{with(0, func(s *groSeg) { s.n = 0 }), seg(0)}, []int{1, 1}},
		{"follower pure ACK", []groSeg{seg(0), with(1, func(s *groSeg) { s.n = 0 })}, []int{1, 1}},
		{"ack differs", []groSeg{seg(0), with(1, func(s *groSeg) { s.ack = 6000 })}, []int{1, 1}},
		{"window differs", []groSeg{seg(0), with(1, func(s *groSeg) { s.wnd = 2000 })}, []int{1, 1}},
		{"timestamp differs", []groSeg{seg(0), with(1, func(s *groSeg) { s.opts = []byte{1, 1, 8, 10, 0, 0, 0, 8, 0, 0, 0, 9} })}, []int{1, 1}},
		{"options length differs", []groSeg{seg(0), with(1, func(s *groSeg) { s.opts = []byte{} })}, []int{1, 1}},
		{"FIN", []groSeg{seg(0), with(1, func(s *groSeg) { s.flags = header.TCPFlagACK | header.TCPFlagFIN })}, []int{1, 1}},
		{"SYN head", []groSeg{with(0, func(s *groSeg) { s.flags = header.TCPFlagACK | header.TCPFlagSYN }), seg(1)}, []int{1, 1}},
		{"RST", []groSeg{seg(0), with(1, func(s *groSeg) { s.flags = header.TCPFlagRST | header.TCPFlagACK })}, []int{1, 1}},
		{"URG", []groSeg{seg(0), with(1, func(s *groSeg) { s.flags = header.TCPFlagACK | header.TCPFlagURG })}, []int{1, 1}},
		{"CWR", []groSeg{seg(0), with(1, func(s *groSeg) { s.flags = header.TCPFlagACK | header.TCPFlagCWR })}, []int{1, 1}},
		{"ECE", []groSeg{seg(0), with(1, func(s *groSeg) { s.flags = header.TCPFlagACK | header.TCPFlagECE })}, []int{1, 1}},
		{"no ACK", []groSeg{with(0, func(s *groSeg) { s.flags = header.TCPFlagPSH }), with(1, func(s *groSeg) { s.flags = header.TCPFlagPSH })}, []int{1, 1}},
		{"TOS (ECN CE) differs", []groSeg{seg(0), with(1, func(s *groSeg) { s.tos = 3 })}, []int{1, 1}},
		{"TTL differs", []groSeg{seg(0), with(1, func(s *groSeg) { s.ttl = 63 })}, []int{1, 1}},
		{"DF differs", []groSeg{seg(0), with(1, func(s *groSeg) { s.df = true })}, []int{1, 1}},
		{"other source", []groSeg{seg(0), with(1, func(s *groSeg) { s.src = "10.0.0.3" })}, []int{1, 1}},
		{"other port", []groSeg{seg(0), with(1, func(s *groSeg) { s.sport = 40001 })}, []int{1, 1}},
		{"IP options", []groSeg{with(0, func(s *groSeg) { s.ipOpts = []byte{1, 1, 1, 1} }), seg(1)}, []int{1, 1}},
		{"fragment", []groSeg{seg(0), with(1, func(s *groSeg) { s.frag = true })}, []int{1, 1}},
		{"bad IP checksum", []groSeg{seg(0), with(1, func(s *groSeg) { s.badSum = true }), seg(2)}, []int{1, 1, 1}},
		{"not for this host", []groSeg{seg(0), with(1, func(s *groSeg) { s.typ = buffer.PacketOtherHost })}, []int{1, 1}},
		{"UDP", []groSeg{with(0, func(s *groSeg) { s.proto = tcpip.UDPProtocolNumber }), with(1, func(s *groSeg) { s.proto = tcpip.UDPProtocolNumber })}, []int{1, 1}},
		{"two flows interleaved", []groSeg{seg(0), with(0, func(s *groSeg) { s.sport = 40001 }), seg(1)}, []int{1, 1, 1}},
		{"run restarts after a break", []groSeg{seg(0), seg(1), with(2, func(s *groSeg) { s.flags = header.TCPFlagACK | header.TCPFlagFIN }), seg(3), seg(4)}, []int{2, 1, 2}},
		{"64 KiB limit", func() []groSeg {
			var ss []groSeg
			for i := range 70 {
				ss = append(ss, seg(i))
			}
			return ss
		}(), []int{65, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pkts []*buffer.Packet
			for _, s := range tc.segs {
				p := groPacket(s)
				pkts = append(pkts, p)
			}
			out, merged := groCoalesce(pkts)
			var got []int
			for _, p := range out {
				got = append(got, max(1, p.Segments))
			}
			if len(got) != len(tc.want) || merged != len(tc.segs)-len(out) {
				t.Fatalf("segments per packet %v (merged %d), want %v", got, merged, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("segments per packet %v, want %v", got, tc.want)
				}
			}
			for _, p := range out {
				b := p.AppendTo(nil)
				ip := header.IPv4(b)
				if int(ip.TotalLength()) != len(b) {
					t.Errorf("Total Length %d for %d bytes", ip.TotalLength(), len(b))
				}
				if p.Segments > 1 && !ip.IsChecksumValid() {
					t.Error("IPv4 header checksum not updated")
				}
				p.Release()
			}
		})
	}
}

// TestGROMergedContent: the coalesced packet holds the first segment's
// headers and the payloads in order, with PSH if a follower had it.
func TestGROMergedContent(t *testing.T) {
	var pkts []*buffer.Packet
	var payload []byte
	var first []byte
	for i := range 4 {
		s := groSeg{seq: seqnum.Value(100 + i*1448), n: 1448}
		if i == 2 {
			s.flags = header.TCPFlagACK | header.TCPFlagPSH
		}
		p := groPacket(s)
		b := p.AppendTo(nil)
		if i == 0 {
			first = b[:20+32]
		}
		payload = append(payload, b[20+32:]...)
		pkts = append(pkts, p)
	}
	out, _ := groCoalesce(pkts)
	if len(out) != 1 || out[0].Segments != 4 {
		t.Fatalf("%d packets left", len(out))
	}
	b := out[0].AppendTo(nil)
	out[0].Release()
	ip := header.IPv4(b)
	tcp := header.TCP(b[20:])
	if !bytes.Equal(b[52:], payload) {
		t.Error("payload not the segments' payloads in order")
	}
	if tcp.SequenceNumber() != 100 || tcp.Flags() != header.TCPFlagACK|header.TCPFlagPSH {
		t.Errorf("seq %d flags %v", tcp.SequenceNumber(), tcp.Flags())
	}
	// Only Total Length, the header checksum and the flags change.
	if !bytes.Equal(b[:2], first[:2]) || !bytes.Equal(b[4:10], first[4:10]) || !bytes.Equal(b[12:33], first[12:33]) ||
		!bytes.Equal(b[34:52], first[34:52]) {
		t.Error("headers changed")
	}
	if int(ip.TotalLength()) != 52+4*1448 || !ip.IsChecksumValid() {
		t.Errorf("Total Length %d, checksum valid %v", ip.TotalLength(), ip.IsChecksumValid())
	}
}

// BenchmarkGROMerge coalesces a batch of 64 full-sized segments of one
// flow, as a pipe delivers them in bulk.
func BenchmarkGROMerge(b *testing.B) {
	const n, mss = 64, 1448
	pkts := make([]*buffer.Packet, n)
	b.ReportAllocs()
	b.SetBytes(n * mss)
	for b.Loop() {
		b.StopTimer()
		for i := range pkts {
			pkts[i] = groPacket(groSeg{seq: seqnum.Value(1 + i*mss), n: mss})
		}
		b.StartTimer()
		out, _ := groCoalesce(pkts)
		b.StopTimer()
		for _, p := range out {
			p.Release()
		}
		b.StartTimer()
	}
}
