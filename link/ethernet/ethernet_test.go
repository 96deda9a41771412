package ethernet_test

import (
	"bytes"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/channel"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

var (
	ours   = tcpip.MustParseLinkAddress("02:00:00:00:00:01")
	theirs = tcpip.MustParseLinkAddress("02:00:00:00:00:02")
)

func newEth(t *testing.T) (*ethernet.Endpoint, *channel.Endpoint, *linktest.Recorder) {
	t.Helper()
	ch := channel.New(channel.Config{LinkAddress: ours, MTU: 1400, Capabilities: stack.CapabilityRXChecksumOffload})
	e := ethernet.New(ch)
	r := linktest.NewRecorder()
	e.Attach(r)
	t.Cleanup(e.Close)
	return e, ch, r
}

func TestProperties(t *testing.T) {
	leakcheck.Check(t)
	e, ch, _ := newEth(t)
	if e.MTU() != 1400 || e.MaxHeaderLength() != 14 || e.LinkAddress() != ours ||
		e.Capabilities() != stack.CapabilityRXChecksumOffload|stack.CapabilityResolutionRequired {
		t.Errorf("MTU %d, MaxHeaderLength %d, LinkAddress %v, Capabilities %v", e.MTU(), e.MaxHeaderLength(), e.LinkAddress(), e.Capabilities())
	}
	if e.Inner() != ch || !ch.IsAttached() {
		t.Error("not attached to the inner link")
	}
	e.Attach(nil)
	if ch.IsAttached() {
		t.Error("Attach(nil) left the inner link attached")
	}
}

func TestOutbound(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e, ch, _ := newEth(t)
	for _, tc := range []struct {
		name    string
		src     tcpip.LinkAddress
		wantSrc tcpip.LinkAddress
	}{
		{"source given", theirs, theirs},
		{"source zero", tcpip.LinkAddress{}, ours},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grows := buffer.ReadStats().HeaderGrows
			p := buffer.NewPacket(e.MaxHeaderLength()+20, nil)
			p.Payload.Append([]byte("payload"))
			copy(p.PrependHeader(buffer.NetworkLayer, 20), bytes.Repeat([]byte{0x45}, 20))
			p.LinkSource = tc.src
			p.LinkDestination = tcpip.BroadcastLinkAddress
			p.NetworkProtocol = tcpip.IPv4ProtocolNumber
			e.AddHeader(p)
			if n, err := e.WritePackets([]*buffer.Packet{p}); n != 1 || err != nil {
				t.Fatalf("WritePackets = %d, %v", n, err)
			}
			out, ok := ch.Read()
			if !ok {
				t.Fatal("nothing written")
			}
			defer out.Release()
			eth, err := header.ParseEthernet(out.LinkHeader())
			if err != nil || len(out.LinkHeader()) != 14 {
				t.Fatalf("link header %x: %v", out.LinkHeader(), err)
			}
			want := header.EthernetFields{Destination: tcpip.BroadcastLinkAddress, Source: tc.wantSrc, Type: tcpip.IPv4ProtocolNumber}
			if eth.Fields() != want {
				t.Errorf("header %+v, want %+v", eth.Fields(), want)
			}
			if got := out.AppendTo(nil); !bytes.Equal(got[14:34], bytes.Repeat([]byte{0x45}, 20)) || string(got[34:]) != "payload" {
				t.Errorf("frame %x", got)
			}
			if buffer.ReadStats().HeaderGrows != grows {
				t.Error("the header area had to grow")
			}
		})
	}
}

func frame(dst, src tcpip.LinkAddress, typ tcpip.NetworkProtocolNumber, payload string) *buffer.Packet {
	b := make([]byte, 14+len(payload))
	f := header.EthernetFields{Destination: dst, Source: src, Type: typ}
	f.Encode(b)
	copy(b[14:], payload)
	return buffer.NewPacketFromBytes(0, b)
}

func TestInbound(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	_, ch, r := newEth(t)
	mcast := tcpip.MustParseLinkAddress("33:33:00:00:00:01")
	for _, tc := range []struct {
		name  string
		dst   tcpip.LinkAddress
		typ   tcpip.NetworkProtocolNumber
		ptype buffer.PacketType
	}{
		{"host", ours, tcpip.IPv6ProtocolNumber, buffer.PacketHost},
		{"broadcast", tcpip.BroadcastLinkAddress, tcpip.ARPProtocolNumber, buffer.PacketBroadcast},
		{"multicast", mcast, tcpip.IPv6ProtocolNumber, buffer.PacketMulticast},
		{"other host", theirs, tcpip.IPv4ProtocolNumber, buffer.PacketOtherHost},
		// 802.1Q: delivered as EtherType 0x8100, tag and all.
		{"vlan tagged", ours, 0x8100, buffer.PacketHost},
		// An 802.3 length field is passed on as it is.
		{"802.3 length", ours, 0x002e, buffer.PacketHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !ch.InjectInbound(0, frame(tc.dst, theirs, tc.typ, "body")) {
				t.Fatal("InjectInbound failed")
			}
			got := r.Take()
			if len(got) != 1 {
				t.Fatalf("%d packets delivered", len(got))
			}
			d := got[0]
			defer d.Pkt.Release()
			p := d.Pkt
			if d.Proto != tc.typ || p.NetworkProtocol != tc.typ || p.Type != tc.ptype ||
				p.LinkSource != theirs || p.LinkDestination != tc.dst {
				t.Errorf("proto %v/%v type %v src %v dst %v", d.Proto, p.NetworkProtocol, p.Type, p.LinkSource, p.LinkDestination)
			}
			if len(p.LinkHeader()) != 14 || !p.Payload.EqualBytes([]byte("body")) {
				t.Errorf("link header %x, payload %q", p.LinkHeader(), p.Payload.Flatten())
			}
		})
	}
}

func TestShortFrames(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e, ch, r := newEth(t)
	for n := range 14 {
		ch.InjectInbound(0, buffer.NewPacketFromBytes(0, make([]byte, n)))
	}
	if r.Len() != 0 {
		t.Errorf("%d short frames delivered", r.Len())
	}
	if got := e.Stats().RxMalformed.Load(); got != 14 {
		t.Errorf("RxMalformed = %d, want 14", got)
	}
	// Exactly a header: delivered with an empty payload.
	ch.InjectInbound(0, frame(ours, theirs, tcpip.IPv4ProtocolNumber, ""))
	linktest.ReleaseAll(r.Take())
}

// Real frames captured from Linux come through with the right protocol
// and addresses.
func TestGoldenFrames(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	ch := channel.New(channel.Config{LinkAddress: tcpip.MustParseLinkAddress("02:99:00:00:00:02")})
	e := ethernet.New(ch)
	defer e.Close()
	r := linktest.NewRecorder()
	e.Attach(r)
	for _, tc := range []struct {
		name  string
		proto tcpip.NetworkProtocolNumber
		ptype buffer.PacketType
	}{
		{"eth_arp_request", tcpip.ARPProtocolNumber, buffer.PacketBroadcast},
		{"ipv4_udp", tcpip.IPv4ProtocolNumber, buffer.PacketHost},
		{"ipv6_ns", tcpip.IPv6ProtocolNumber, buffer.PacketMulticast},
		{"ipv6_tcp_syn", tcpip.IPv6ProtocolNumber, buffer.PacketHost},
	} {
		b := linktest.Golden(t, tc.name)
		ch.InjectInbound(0, buffer.NewPacketFromBytes(0, b))
		got := r.Take()
		if len(got) != 1 || got[0].Proto != tc.proto || got[0].Pkt.Type != tc.ptype || got[0].Pkt.Len() != len(b) {
			t.Errorf("%s: delivered %+v", tc.name, got)
		}
		linktest.ReleaseAll(got)
	}
}

func TestDetached(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	ch := channel.New(channel.Config{LinkAddress: ours})
	e := ethernet.New(ch)
	defer e.Close()
	// Delivered by the inner link directly (as a link racing a detach
	// would): counted and released.
	e.DeliverNetworkPacket(0, frame(ours, theirs, tcpip.IPv4ProtocolNumber, "x"))
	if got := e.Stats().RxDetached.Load(); got != 1 {
		t.Errorf("RxDetached = %d", got)
	}
}

// Two Ethernet endpoints over a pipe of frames talk to each other.
func TestOverPipe(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{})
	ea, eb := ethernet.New(a), ethernet.New(b)
	defer ea.Close()
	defer eb.Close()
	rb := linktest.NewRecorder()
	eb.Attach(rb)
	ea.Attach(linktest.NewRecorder())
	p := buffer.NewPacket(ea.MaxHeaderLength(), nil)
	p.Payload.Append([]byte("\x45hello"))
	p.LinkSource = ea.LinkAddress()
	p.LinkDestination = eb.LinkAddress()
	p.NetworkProtocol = tcpip.IPv4ProtocolNumber
	ea.AddHeader(p)
	ea.WritePackets([]*buffer.Packet{p})
	got := rb.WaitN(t, 1)
	defer linktest.ReleaseAll(got)
	q := got[0].Pkt
	if got[0].Proto != tcpip.IPv4ProtocolNumber || q.Type != buffer.PacketHost || q.LinkSource != pipe.DefaultAddressA ||
		!q.Payload.EqualBytes([]byte("\x45hello")) {
		t.Errorf("got proto %v type %v src %v payload %q", got[0].Proto, q.Type, q.LinkSource, q.Payload.Flatten())
	}
}

type discard struct{}

func (discard) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) { p.Release() }

func TestAllocs(t *testing.T) {
	if linktest.RaceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	ch := channel.New(channel.Config{LinkAddress: ours})
	e := ethernet.New(ch)
	defer e.Close()
	e.Attach(discard{})
	raw := make([]byte, 1514)
	(&header.EthernetFields{Destination: ours, Source: theirs, Type: tcpip.IPv4ProtocolNumber}).Encode(raw)
	in := func() {
		p := buffer.NewPacket(0, nil)
		p.Payload.Append(raw)
		ch.InjectInbound(0, p)
	}
	in()
	if n := testing.AllocsPerRun(200, in); n != 0 {
		t.Errorf("inbound: %v allocations, want 0", n)
	}
	pkts := make([]*buffer.Packet, 1)
	out := func() {
		p := buffer.NewPacket(e.MaxHeaderLength()+40, nil)
		p.Payload.Append(raw[:1400])
		p.PrependHeader(buffer.NetworkLayer, 40)
		p.LinkDestination = theirs
		p.NetworkProtocol = tcpip.IPv6ProtocolNumber
		e.AddHeader(p)
		pkts[0] = p
		e.WritePackets(pkts)
		q, _ := ch.Read()
		q.Release()
	}
	out()
	if n := testing.AllocsPerRun(200, out); n != 0 {
		t.Errorf("outbound: %v allocations, want 0", n)
	}
}
