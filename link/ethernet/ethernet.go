// Package ethernet adds Ethernet II framing to a link that carries raw
// frames: a TAP device (tun.NewEndpoint of a TAP), one end of a pipe of
// frames, a channel, or a wrapper of one (sniffer, impair). The wrapped
// link moves whole frames; this package writes the Ethernet header of
// outbound packets and parses, consumes and classifies the header of
// inbound ones, so that the NIC above sees the EtherType, the link
// addresses and whether the frame was addressed to it.
//
//	ep := ethernet.New(tapEndpoint) // a stack.LinkEndpoint for a NIC
//
// The endpoint reports the inner link's MTU and link address and adds
// stack.CapabilityResolutionRequired: IP next hops need ARP or NDP.
//
// Frames follow RFC 894 (IPv4) and RFC 2464 (IPv6) over Ethernet II. The
// frame check sequence is not part of a frame here (TAP devices and pipes
// do not carry it), and short outbound frames are not padded to the
// 60-byte minimum: the device or the medium does that. IEEE 802.1Q tagged
// frames are not untagged: they are delivered with EtherType 0x8100, which
// the NIC counts as an unknown protocol (and packet endpoints see). So is
// an IEEE 802.3 frame whose Length/Type field is a length (below 0x0600,
// IEEE 802.3 §3.2.6): ustack speaks no LLC.
package ethernet

import (
	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/link/linkutil"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Stats counts the frames the endpoint drops.
type Stats struct {
	RxMalformed tcpip.Counter // shorter than an Ethernet header
	RxDetached  tcpip.Counter // arrived while no dispatcher was attached
}

// Endpoint is an Ethernet II link over a link of raw frames. It is a
// stack.LinkEndpoint for the NIC above and the stack.NetworkDispatcher of
// the inner link. Its methods are safe for concurrent use.
type Endpoint struct {
	inner stack.LinkEndpoint
	gate  linkutil.DispatchGate
	stats Stats
}

var (
	_ stack.LinkEndpoint      = (*Endpoint)(nil)
	_ stack.NetworkDispatcher = (*Endpoint)(nil)
)

// New returns an Ethernet endpoint over inner, which must carry raw frames
// (deliver them whole in the Payload). The Endpoint owns inner: its Close
// closes inner.
func New(inner stack.LinkEndpoint) *Endpoint {
	return &Endpoint{inner: inner}
}

// Inner returns the wrapped link.
func (e *Endpoint) Inner() stack.LinkEndpoint { return e.inner }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() *Stats { return &e.stats }

// MTU implements stack.LinkEndpoint: the inner link's. The Ethernet header
// is not part of the MTU (RFC 894: 1500 bytes of IP in a frame).
func (e *Endpoint) MTU() uint32 { return e.inner.MTU() }

// MaxHeaderLength implements stack.LinkEndpoint: the Ethernet header and
// whatever the inner link adds in front of it.
func (e *Endpoint) MaxHeaderLength() int {
	return header.EthernetMinimumSize + e.inner.MaxHeaderLength()
}

// LinkAddress implements stack.LinkEndpoint: the inner link's.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress { return e.inner.LinkAddress() }

// Capabilities implements stack.LinkEndpoint: the inner link's, with
// CapabilityResolutionRequired.
func (e *Endpoint) Capabilities() stack.LinkCapabilities {
	return e.inner.Capabilities() | stack.CapabilityResolutionRequired
}

// Attach implements stack.LinkEndpoint. With d not nil the endpoint
// attaches itself to the inner link; with d nil it detaches from the inner
// link, which waits for the deliveries in progress.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		e.inner.Attach(nil)
		e.gate.Attach(nil)
		return
	}
	e.gate.Attach(d)
	e.inner.Attach(e)
}

// AddHeader implements stack.LinkEndpoint: it prepends the Ethernet II
// header built from pkt.LinkDestination, pkt.LinkSource (the endpoint's
// own address if zero) and pkt.NetworkProtocol as the EtherType (RFC 894,
// RFC 2464 §3), then lets the inner link add its own in front.
func (e *Endpoint) AddHeader(pkt *buffer.Packet) {
	src := pkt.LinkSource
	if src.IsZero() {
		src = e.inner.LinkAddress()
	}
	f := header.EthernetFields{
		Destination: pkt.LinkDestination,
		Source:      src,
		Type:        pkt.NetworkProtocol,
	}
	f.Encode(pkt.PrependHeader(buffer.LinkLayer, header.EthernetMinimumSize))
	e.inner.AddHeader(pkt)
}

// WritePackets implements stack.LinkEndpoint: the packets carry their
// Ethernet headers already (AddHeader); the inner link writes them.
func (e *Endpoint) WritePackets(pkts []*buffer.Packet) (int, error) {
	return e.inner.WritePackets(pkts)
}

// DeliverNetworkPacket implements stack.NetworkDispatcher for the inner
// link: pkt holds a whole frame in its Payload (proto is ignored). It
// consumes the Ethernet header as pkt's link header, sets
// pkt.LinkSource, pkt.LinkDestination, pkt.NetworkProtocol and pkt.Type,
// and delivers pkt with its EtherType. A frame shorter than the header is
// dropped and counted.
func (e *Endpoint) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	if !e.consumeHeader(pkt) {
		return
	}
	if !e.gate.Deliver(pkt.NetworkProtocol, pkt) {
		e.stats.RxDetached.Inc()
	}
}

// DeliverNetworkPackets implements stack.BatchDispatcher for the inner
// link: DeliverNetworkPacket of each frame, the frames kept handed on as
// one batch.
func (e *Endpoint) DeliverNetworkPackets(pkts []*buffer.Packet) {
	out := pkts[:0]
	for _, pkt := range pkts {
		if e.consumeHeader(pkt) {
			out = append(out, pkt)
		}
	}
	clear(pkts[len(out):])
	if len(out) > 0 && !e.gate.DeliverBatch(out) {
		e.stats.RxDetached.Add(uint64(len(out)))
	}
}

// consumeHeader consumes the Ethernet header of an inbound frame and sets
// the packet's link addresses, protocol and type, or counts, releases
// and reports false for a frame shorter than the header.
func (e *Endpoint) consumeHeader(pkt *buffer.Packet) bool {
	b, ok := pkt.ConsumeHeader(buffer.LinkLayer, header.EthernetMinimumSize)
	if !ok {
		e.stats.RxMalformed.Inc()
		pkt.Release()
		return false
	}
	eth, err := header.ParseEthernet(b)
	if err != nil {
		// Unreachable: ConsumeHeader returned a whole header.
		e.stats.RxMalformed.Inc()
		pkt.Release()
		return false
	}
	dst := eth.Destination()
	pkt.LinkSource = eth.Source()
	pkt.LinkDestination = dst
	pkt.NetworkProtocol = eth.Type()
	// IEEE 802-2014 §8.2: the I/G bit (least significant bit of the
	// first octet) marks group addresses; all ones is broadcast.
	switch {
	case dst == e.inner.LinkAddress():
		pkt.Type = buffer.PacketHost
	case dst.IsBroadcast():
		pkt.Type = buffer.PacketBroadcast
	case dst.IsMulticast():
		pkt.Type = buffer.PacketMulticast
	default:
		pkt.Type = buffer.PacketOtherHost
	}
	return true
}

// Close implements stack.LinkEndpoint: it detaches and closes the inner
// link.
func (e *Endpoint) Close() {
	e.inner.Close()
	e.gate.Attach(nil)
}
