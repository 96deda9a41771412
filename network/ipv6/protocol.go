// Package ipv6 is ustack's IPv6 (RFC 8200): validation, extension headers
// processed in order, fragmentation by the source and reassembly, path MTU
// discovery (RFC 8201), forwarding between NICs, ICMPv6 (RFC 4443) and the
// address resolution of Neighbor Discovery (RFC 4861 §7) over the NIC's
// neighbour cache, which it shares in design and code with ARP.
//
// Add it to a stack with
//
//	stack.New(stack.Options{
//		NetworkProtocols: []stack.NetworkProtocolFactory{ipv6.NewProtocol},
//	})
//
// and tune it with the typed options of this package through
// Stack.SetNetworkProtocolOption (DefaultHopLimitOption, the reassembly
// limits, AutoGenLinkLocalOption, EchoMulticastReplyOption, MLDOption).
//
// ICMPv6 and NDP are part of this package, not transport protocols: echo
// requests are answered, ICMPv6 errors become stack.TransportError values
// for the endpoint that sent the offending packet, and neighbour
// solicitations and advertisements feed the neighbour cache. Every ICMPv6
// message is also handed to the stack's TransportDispatcher, so that raw
// endpoints and ICMPv6 echo endpoints see them.
//
// Beyond address resolution, each NIC runs what its
// stack.NDPConfigurations (stack.Options.NDPConfigs,
// Stack.SetNDPConfigurations) turns on: duplicate address detection with
// RFC 7527 nonces (dad.go; Stack.IsAddrTentative,
// Stack.DupTentativeAddrDetected), router solicitation and the processing
// of Router Advertisements, the Default Router List with RFC 4191
// preferences, on-link prefixes, Route Information options and redirects
// (router.go), stateless address autoconfiguration with EUI-64 or RFC 7217
// opaque identifiers and RFC 8981 temporary addresses (slaac.go), and,
// when the stack forwards, router advertising (radv.go). The zero
// configuration turns all of them off. What they learn is reported to the
// stack's stack.NDPDispatcher. MLDv2 with MLDv1 compatibility (mld.go)
// runs when MLDOption enables it.
//
// Inbound packets are processed to completion on the goroutine that
// delivers them; every timer runs through the stack's Clock. Each packet
// dropped increments the one counter of tcpip.Stats.IPv6 or ICMPv6 that
// names the reason.
package ipv6

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Defaults of the protocol options.
const (
	// DefaultHopLimit is the Hop Limit of unicast packets whose sender
	// names none: Linux's net.ipv6.conf.*.hop_limit, the value RFC 8200
	// §3 leaves to the node (IANA recommends 64).
	DefaultHopLimit = 64

	// DefaultMulticastHopLimit is the Hop Limit of multicast packets
	// whose sender names none: RFC 3493 §5.2 (IPV6_MULTICAST_HOPS
	// defaults to 1) keeps them on the link.
	DefaultMulticastHopLimit = 1

	// DefaultReassemblyTimeout is how long fragments wait for the rest of
	// their packet: RFC 8200 §4.5, 60 seconds.
	DefaultReassemblyTimeout = 60 * time.Second

	// DefaultReassemblyMemoryLimit bounds the memory held by incomplete
	// packets: Linux's net.ipv6.ip6frag_high_thresh, 4 MiB.
	DefaultReassemblyMemoryLimit = 4 << 20

	// DefaultMaxFragments bounds the fragments of one packet. A 64 KiB
	// packet over a 1280-byte MTU has 52; more means tiny fragments.
	DefaultMaxFragments = 64

	// pmtuAging is how long a path MTU learnt from Packet Too Big holds
	// before the link MTU is tried again: RFC 8201 §4 recommends 10
	// minutes.
	pmtuAging = 10 * time.Minute

	// pmtuMaxEntries bounds the path MTU cache, against a flood of
	// Packet Too Big messages for made-up destinations.
	pmtuMaxEntries = 4096
)

// DefaultHopLimitOption sets the Hop Limit of unicast packets whose sender
// names none (1 to 255; DefaultHopLimit by default).
type DefaultHopLimitOption uint8

// ReassemblyTimeoutOption sets how long fragments wait for the rest of
// their packet (positive; DefaultReassemblyTimeout by default).
type ReassemblyTimeoutOption time.Duration

// ReassemblyMemoryLimitOption sets the memory, in bytes, that incomplete
// packets may hold in all (positive; DefaultReassemblyMemoryLimit by
// default).
type ReassemblyMemoryLimitOption int

// MaxFragmentsOption sets the number of fragments one packet may have (at
// least 2; DefaultMaxFragments by default).
type MaxFragmentsOption int

// AutoGenLinkLocalOption, on by default, makes every NIC with an Ethernet
// address form a link-local address from it when it comes up: fe80::/64
// with the modified EUI-64 interface identifier (RFC 4291 Appendix A,
// RFC 4862 §5.3), as Linux does with addr_gen_mode 0, or an RFC 7217
// opaque one when stack.Options.OpaqueIIDOpts names the NICs (Linux's
// addr_gen_mode 2). It applies to NICs enabled after it is set.
type AutoGenLinkLocalOption bool

// EchoMulticastReplyOption, on by default, makes the protocol answer echo
// requests sent to a multicast address it listens to: RFC 4443 §4.2 says a
// reply SHOULD be sent, as Linux does (icmp.echo_ignore_multicast=0).
type EchoMulticastReplyOption bool

// protocol is the IPv6 protocol of one stack.
type protocol struct {
	s     *stack.Stack
	stats *tcpip.Stats

	defaultHopLimit    atomic.Uint32
	autoGenLinkLocal   atomic.Bool
	echoMulticastReply atomic.Bool
	mld                atomic.Pointer[MLDOption]

	frags *reassembler
	pmtu  pmtuCache
}

// NewProtocol returns the IPv6 protocol for s; it is a
// stack.NetworkProtocolFactory.
func NewProtocol(s *stack.Stack) stack.NetworkProtocol {
	p := &protocol{s: s, stats: s.Stats()}
	p.defaultHopLimit.Store(DefaultHopLimit)
	p.autoGenLinkLocal.Store(true)
	p.echoMulticastReply.Store(true)
	p.mld.Store(&MLDOption{})
	p.frags = newReassembler(s.Clock(), &p.stats.IPv6)
	p.pmtu.init(s.Clock())
	return p
}

// Number implements stack.NetworkProtocol.
func (p *protocol) Number() tcpip.NetworkProtocolNumber { return tcpip.IPv6ProtocolNumber }

// NewEndpoint implements stack.NetworkProtocol.
func (p *protocol) NewEndpoint(nic stack.NetworkInterface, d stack.TransportDispatcher) stack.NetworkEndpoint {
	e := &endpoint{p: p, nic: nic, d: d}
	e.groups.members = make(map[[16]byte]int)
	e.mld.pending = make(map[netip.Addr]*mldPending)
	e.initNDP()
	return e
}

// SetOption implements stack.NetworkProtocol: opt is one of this package's
// option types, by value.
func (p *protocol) SetOption(opt any) error {
	switch o := opt.(type) {
	case DefaultHopLimitOption:
		if o == 0 {
			return tcpip.ErrInvalidOptionValue
		}
		p.defaultHopLimit.Store(uint32(o))
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
	case AutoGenLinkLocalOption:
		p.autoGenLinkLocal.Store(bool(o))
	case EchoMulticastReplyOption:
		p.echoMulticastReply.Store(bool(o))
	case MLDOption:
		p.mld.Store(&o)
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// Option implements stack.NetworkProtocol: opt is a pointer to one of this
// package's option types.
func (p *protocol) Option(opt any) error {
	switch o := opt.(type) {
	case *DefaultHopLimitOption:
		*o = DefaultHopLimitOption(p.defaultHopLimit.Load())
	case *ReassemblyTimeoutOption:
		*o = ReassemblyTimeoutOption(p.frags.config().Timeout)
	case *ReassemblyMemoryLimitOption:
		*o = ReassemblyMemoryLimitOption(p.frags.config().MemoryLimit)
	case *MaxFragmentsOption:
		*o = MaxFragmentsOption(p.frags.config().MaxFragments)
	case *AutoGenLinkLocalOption:
		*o = AutoGenLinkLocalOption(p.autoGenLinkLocal.Load())
	case *EchoMulticastReplyOption:
		*o = EchoMulticastReplyOption(p.echoMulticastReply.Load())
	case *MLDOption:
		*o = *p.mld.Load()
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// Close implements stack.NetworkProtocol: it drops every incomplete packet
// and stops their timers.
func (p *protocol) Close() { p.frags.close() }

// newID returns the Identification of a new fragmented packet: RFC 8200
// §4.5 wants it different from that of any other fragmented packet sent
// recently with the same addresses, and RFC 7739 §5 unpredictable, so it
// comes from the stack's random source.
func (p *protocol) newID() uint32 { return uint32(p.s.RandUint64()) }

// endpointOn returns this protocol's endpoint on NIC id.
func (p *protocol) endpointOn(id tcpip.NICID) *endpoint {
	ep, err := p.s.NetworkEndpoint(id, tcpip.IPv6ProtocolNumber)
	if err != nil {
		return nil
	}
	e, _ := ep.(*endpoint)
	return e
}
