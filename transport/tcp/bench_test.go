package tcp_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/tcp"
)

// benchMSS is the segment size of the benchmarks: a 1500-byte IP MTU less
// the IPv4 and TCP headers (RFC 9293 §3.7.1).
const benchMSS = 1460

// capture is a hub port's dispatcher that records the last segment the
// stack under test (at addrA) sent, without allocating.
type capture struct {
	seq, ack seqnum.Value
	flags    header.TCPFlags
	end      seqnum.Value // seq plus the segment's length
	segs     int
}

func (c *capture) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	defer pkt.Release()
	b, ok := pkt.Peek(pkt.Len())
	if !ok {
		return
	}
	ip, err := header.ParseIPv4(b)
	if err != nil || ip.Source() != addrA || ip.Protocol() != tcpip.TCPProtocolNumber {
		return
	}
	t := header.TCP(b[ip.HeaderLength():])
	c.seq, c.ack, c.flags = t.SequenceNumber(), t.AckNumber(), t.Flags()
	n := int(ip.TotalLength()) - ip.HeaderLength() - t.HeaderLength()
	if c.flags&(header.TCPFlagSYN|header.TCPFlagFIN) != 0 {
		n++
	}
	if end := c.seq.Add(seqnum.Size(n)); c.end.LessThan(end) || c.segs == 0 {
		c.end = end
	}
	c.segs++
}

// rawPeer is a TCP peer at addrPeer that the benchmark drives by hand:
// it builds each segment in place in one reusable IP packet.
type rawPeer struct {
	hub       *testnet.Hub
	cap       *capture
	port, dst uint16
	pkt       []byte // IPv4 header, TCP header (with an MSS option) and payload
}

// benchHost returns a hub and stack A (addrA, bare IP) with a capture port.
func benchHost(b *testing.B) (*testnet.Hub, *stack.Stack, *capture) {
	b.Helper()
	hub := testnet.NewHub(tcpip.NewManualClock())
	b.Cleanup(hub.Close)
	s := hub.NewStack(b, stackOpts())
	hub.AddNIC(b, s, 1, netip.PrefixFrom(addrA, 24), testnet.NICOptions{})
	c := &capture{}
	hub.NewPort(false, tcpip.LinkAddress{}, 1500, 0).Attach(c)
	return hub, s, c
}

// send injects a segment with the given flags, sequence and
// acknowledgment numbers and n bytes of payload (at most benchMSS), and
// pumps the hub.
func (p *rawPeer) send(flags header.TCPFlags, seq, ack seqnum.Value, n int, opts []byte) {
	if p.pkt == nil {
		p.pkt = make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize+4+benchMSS)
		for i := range benchMSS {
			p.pkt[len(p.pkt)-benchMSS+i] = byte(i)
		}
	}
	tf := header.TCPFields{SrcPort: p.port, DstPort: p.dst, SeqNum: seq, AckNum: ack, Flags: flags, WindowSize: 65535, Options: opts}
	tl := tf.Size()
	total := header.IPv4MinimumSize + tl + n
	ipf := header.IPv4Fields{TotalLength: uint16(total), ID: 1, TTL: 64, Protocol: tcpip.TCPProtocolNumber, Source: addrPeer, Destination: addrA}
	ipf.Encode(p.pkt)
	seg := p.pkt[header.IPv4MinimumSize:total]
	// The payload is whatever follows the header in pkt: its bytes do
	// not matter here.
	tf.Encode(seg)
	t := header.TCP(seg)
	t.SetChecksum(t.CalculateChecksum(addrPeer, addrA))
	p.hub.Send(p.pkt[:total])
	p.hub.Pump()
}

// mssOption is an MSS option of benchMSS (RFC 9293 §3.2).
var mssOption = []byte{2, 4, benchMSS >> 8, benchMSS & 0xff}

// BenchmarkReceiveInOrder measures the receive path of an established
// connection: a full in-order segment from the peer is delivered (IP,
// demux, TCP), acknowledged (an ACK every second segment, RFC 9293
// §3.8.6.3) and read. The harness's cost of building the segment and its
// checksum is included.
func BenchmarkReceiveInOrder(b *testing.B) {
	hub, s, c := benchHost(b)
	l, err := s.NewEndpoint(tcp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	if err := l.Bind(tcpip.FullAddress{Addr: addrA, Port: 80}); err != nil {
		b.Fatal(err)
	}
	if err := l.Listen(1); err != nil {
		b.Fatal(err)
	}
	p := &rawPeer{hub: hub, cap: c, port: 40000, dst: 80}
	iss := seqnum.Value(1000)
	p.send(header.TCPFlagSYN, iss, 0, 0, mssOption)
	if c.flags != header.TCPFlagSYN|header.TCPFlagACK {
		b.Fatalf("no SYN-ACK: flags %v", c.flags)
	}
	ack := c.seq.Add(1)
	seq := iss.Add(1)
	p.send(header.TCPFlagACK, seq, ack, 0, nil)
	ep, _, err := l.Accept()
	if err != nil {
		b.Fatalf("Accept: %v", err)
	}
	b.Cleanup(ep.Close)
	buf := make([]byte, 2*benchMSS)
	var ropts tcpip.ReadOptions
	b.SetBytes(benchMSS)
	b.ReportAllocs()
	for b.Loop() {
		p.send(header.TCPFlagACK|header.TCPFlagPSH, seq, ack, benchMSS, nil)
		seq = seq.Add(benchMSS)
		if res, err := ep.Read(buf, ropts); err != nil || res.N != benchMSS {
			b.Fatalf("Read = %+v, %v", res, err)
		}
	}
}

// BenchmarkSendFullSegment measures the send path of an established
// connection: a write of one MSS of data becomes one full segment on the
// link (copy into the send buffer, TCP and IP headers, checksum, link
// write). The peer acknowledges every fourth segment, so a quarter of an
// ACK's processing is included.
func BenchmarkSendFullSegment(b *testing.B) {
	hub, s, c := benchHost(b)
	ep, err := s.NewEndpoint(tcp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ep.Close)
	to := tcpip.FullAddress{Addr: addrPeer, Port: 80}
	if err := ep.Connect(to); !errors.Is(err, tcpip.ErrConnectStarted) {
		b.Fatalf("Connect = %v", err)
	}
	hub.Pump()
	if c.flags != header.TCPFlagSYN {
		b.Fatalf("no SYN: flags %v, frames %d, segs %d", c.flags, hub.Frames(), c.segs)
	}
	p := &rawPeer{hub: hub, cap: c, port: 80, dst: 0}
	// The client's port is in the SYN the capture saw; ask the endpoint.
	local, err := ep.LocalAddress()
	if err != nil {
		b.Fatal(err)
	}
	p.dst = local.Port
	peerSeq := seqnum.Value(5000)
	p.send(header.TCPFlagSYN|header.TCPFlagACK, peerSeq, c.seq.Add(1), 0, mssOption)
	if err := ep.Connect(to); err != nil {
		b.Fatalf("second Connect = %v", err)
	}
	peerSeq = peerSeq.Add(1)
	data := make([]byte, benchMSS)
	var wopts tcpip.WriteOptions
	b.SetBytes(benchMSS)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for {
			_, err := ep.Write(data, wopts)
			if err == nil {
				break
			}
			if !errors.Is(err, tcpip.ErrWouldBlock) {
				b.Fatalf("Write: %v", err)
			}
			p.send(header.TCPFlagACK, peerSeq, c.end, 0, nil)
		}
		hub.Pump()
		if i++; i%4 == 0 {
			p.send(header.TCPFlagACK, peerSeq, c.end, 0, nil)
		}
	}
	// Every write left as a full segment (the SYN was one more).
	if c.segs <= i {
		b.Fatalf("%d writes of one MSS, %d segments sent", i, c.segs-1)
	}
}
