// Package ipv4 is ustack's IPv4 (RFC 791), with the host requirements of
// RFC 1122 §3.2 and §3.3, fragmentation and reassembly (RFC 791 §3.2,
// RFC 815), forwarding between NICs (RFC 1812), ICMPv4 (RFC 792) and IGMP
// (RFC 2236, RFC 3376).
//
// Add it to a stack with
//
//	stack.New(stack.Options{
//		NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
//	})
//
// and tune it with the typed options of this package through
// Stack.SetNetworkProtocolOption (DefaultTTLOption, the reassembly limits,
// IGMPVersionOption, EchoBroadcastReplyOption).
//
// ICMP and IGMP are part of this package, not transport protocols: echo
// requests are answered, ICMP errors are turned into
// stack.TransportError values for the endpoint that sent the offending
// packet, and group membership is reported on the wire. Every ICMP and
// IGMP message is also handed to the stack's TransportDispatcher, so that
// raw endpoints and ICMP echo endpoints see them.
//
// Inbound packets are processed to completion on the goroutine that
// delivers them; every timer (reassembly, IGMP) runs through the stack's
// Clock. Each packet dropped increments the one counter of
// tcpip.Stats.IPv4, ICMPv4 or IGMP that names the reason.
package ipv4

import (
	"sync/atomic"
	"time"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Defaults of the protocol options.
const (
	// DefaultTTL is the TTL of unicast packets whose sender names none:
	// Linux's net.ipv4.ip_default_ttl. RFC 1122 §3.2.1.7 requires a
	// configurable value, RFC 1700 recommends 64.
	DefaultTTL = 64

	// DefaultMulticastTTL is the TTL of multicast packets whose sender
	// names none: RFC 1112 §6.1 keeps them on the local network unless
	// asked otherwise.
	DefaultMulticastTTL = 1

	// DefaultReassemblyTimeout is how long fragments wait for the rest of
	// their datagram. RFC 1122 §3.3.2 recommends 60 to 120 seconds; ustack
	// follows Linux's net.ipv4.ipfrag_time, 30 seconds, which frees the
	// memory of lost datagrams sooner and is what peers expect today.
	DefaultReassemblyTimeout = 30 * time.Second

	// DefaultReassemblyMemoryLimit bounds the memory held by incomplete
	// datagrams: Linux's net.ipv4.ipfrag_high_thresh, 4 MiB.
	DefaultReassemblyMemoryLimit = 4 << 20

	// DefaultMaxFragments bounds the fragments of one datagram. A 64 KiB
	// datagram over a 1500-byte MTU has 45; more means tiny fragments,
	// which cost memory out of proportion to their data.
	DefaultMaxFragments = 64

	// DefaultIGMPVersion is the highest IGMP version spoken: IGMPv3
	// (RFC 3376), falling back to older versions when an older querier is
	// heard (RFC 3376 §7.2.1).
	DefaultIGMPVersion = 3
)

// DefaultTTLOption sets the TTL of unicast packets whose sender names none
// (1 to 255; DefaultTTL by default).
type DefaultTTLOption uint8

// ReassemblyTimeoutOption sets how long fragments wait for the rest of
// their datagram (positive; DefaultReassemblyTimeout by default).
type ReassemblyTimeoutOption time.Duration

// ReassemblyMemoryLimitOption sets the memory, in bytes, that incomplete
// datagrams may hold in all (positive; DefaultReassemblyMemoryLimit by
// default). Fragments that would exceed it are dropped, as Linux drops
// them above ipfrag_high_thresh.
type ReassemblyMemoryLimitOption int

// MaxFragmentsOption sets the number of fragments one datagram may have
// (at least 2; DefaultMaxFragments by default).
type MaxFragmentsOption int

// IGMPVersionOption sets the highest IGMP version the protocol speaks: 1
// (RFC 1112), 2 (RFC 2236) or 3 (RFC 3376, the default), as Linux's
// force_igmp_version does.
type IGMPVersionOption int

// EchoBroadcastReplyOption makes the protocol answer echo requests sent to
// a broadcast or multicast address. RFC 1122 §3.2.2.6 allows either; like
// Linux (icmp_echo_ignore_broadcasts=1) ustack ignores them by default,
// against smurf amplification.
type EchoBroadcastReplyOption bool

// protocol is the IPv4 protocol of one stack.
type protocol struct {
	s     *stack.Stack
	stats *tcpip.Stats

	// nextID is the Identification of the next packet sent; it starts at
	// a random value (RFC 6864 §4.1 wants IDs that do not repeat within
	// the maximum datagram lifetime for a given source, destination and
	// protocol; a counter achieves it, its random start hides how many
	// packets the stack sent before).
	nextID atomic.Uint32

	defaultTTL         atomic.Uint32
	igmpVersion        atomic.Int32
	echoBroadcastReply atomic.Bool
	acceptRedirects    atomic.Bool

	frags *reassembler
}

// NewProtocol returns the IPv4 protocol for s; it is a
// stack.NetworkProtocolFactory.
func NewProtocol(s *stack.Stack) stack.NetworkProtocol {
	p := &protocol{s: s, stats: s.Stats()}
	p.nextID.Store(uint32(s.RandUint64()))
	p.defaultTTL.Store(DefaultTTL)
	p.igmpVersion.Store(DefaultIGMPVersion)
	p.acceptRedirects.Store(true)
	p.frags = newReassembler(s.Clock(), &p.stats.IPv4)
	return p
}

// Number implements stack.NetworkProtocol.
func (p *protocol) Number() tcpip.NetworkProtocolNumber { return tcpip.IPv4ProtocolNumber }

// NewEndpoint implements stack.NetworkProtocol.
func (p *protocol) NewEndpoint(nic stack.NetworkInterface, d stack.TransportDispatcher) stack.NetworkEndpoint {
	e := &endpoint{p: p, nic: nic, d: d}
	e.igmp.init(e)
	return e
}

// SetOption implements stack.NetworkProtocol: opt is one of this package's
// option types, by value.
func (p *protocol) SetOption(opt any) error {
	switch o := opt.(type) {
	case DefaultTTLOption:
		if o == 0 {
			return tcpip.ErrInvalidOptionValue
		}
		p.defaultTTL.Store(uint32(o))
	case ReassemblyTimeoutOption:
		if o <= 0 {
			return tcpip.ErrInvalidOptionValue
		}
		p.frags.setTimeout(time.Duration(o))
	case ReassemblyMemoryLimitOption:
		if o <= 0 {
			return tcpip.ErrInvalidOptionValue
		}
		p.frags.setMemoryLimit(int(o))
	case MaxFragmentsOption:
		if o < 2 {
			return tcpip.ErrInvalidOptionValue
		}
		p.frags.setMaxFragments(int(o))
	case IGMPVersionOption:
		if o < 1 || o > 3 {
			return tcpip.ErrInvalidOptionValue
		}
		p.igmpVersion.Store(int32(o))
	case EchoBroadcastReplyOption:
		p.echoBroadcastReply.Store(bool(o))
	case AcceptRedirectsOption:
		p.acceptRedirects.Store(bool(o))
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// Option implements stack.NetworkProtocol: opt is a pointer to one of this
// package's option types.
func (p *protocol) Option(opt any) error {
	switch o := opt.(type) {
	case *DefaultTTLOption:
		*o = DefaultTTLOption(p.defaultTTL.Load())
	case *ReassemblyTimeoutOption:
		*o = ReassemblyTimeoutOption(p.frags.config().Timeout)
	case *ReassemblyMemoryLimitOption:
		*o = ReassemblyMemoryLimitOption(p.frags.config().MemoryLimit)
	case *MaxFragmentsOption:
		*o = MaxFragmentsOption(p.frags.config().MaxFragments)
	case *IGMPVersionOption:
		*o = IGMPVersionOption(p.igmpVersion.Load())
	case *EchoBroadcastReplyOption:
		*o = EchoBroadcastReplyOption(p.echoBroadcastReply.Load())
	case *AcceptRedirectsOption:
		*o = AcceptRedirectsOption(p.acceptRedirects.Load())
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// Close implements stack.NetworkProtocol: it drops every incomplete
// datagram and stops their timers.
func (p *protocol) Close() { p.frags.close() }

// newID returns the Identification of a new datagram.
func (p *protocol) newID() uint16 { return uint16(p.nextID.Add(1)) }

// endpointOn returns this protocol's endpoint on NIC id.
func (p *protocol) endpointOn(id tcpip.NICID) *endpoint {
	ep, err := p.s.NetworkEndpoint(id, tcpip.IPv4ProtocolNumber)
	if err != nil {
		return nil
	}
	e, _ := ep.(*endpoint)
	return e
}
