// Package stack is ustack's core: the Stack, its NICs, addresses, routes,
// neighbour caches and transport demultiplexer, and the interfaces between
// the layers (link, network, transport) that the protocol packages
// implement.
//
// A Stack processes inbound packets to completion on the goroutine that
// delivers them (a link's reader, or the simulator's loop) and runs every
// timer through its Clock. It starts no goroutine of its own: packets it
// loops back to itself (handle-local, multicast loop) are queued and
// delivered from a Clock callback, never from inside the send.
//
// # Locks
//
// Lock order, outermost first: Stack.mu → nic.mu → NeighborCache.mu;
// transport endpoint locks are never held while calling into the stack's
// tables except through the demuxer's own lock, which is a leaf.
package stack

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// Options configure a new Stack.
type Options struct {
	// NetworkProtocols and TransportProtocols are the protocols the
	// stack runs (ipv4.NewProtocol, arp.NewProtocol, udp.NewProtocol, …).
	NetworkProtocols   []NetworkProtocolFactory
	TransportProtocols []TransportProtocolFactory

	// Clock is the stack's only source of time; nil means the real clock.
	Clock tcpip.Clock

	// Stats receives the stack's counters; nil means a new tree.
	Stats *tcpip.Stats

	// HandleLocal makes packets to the stack's own addresses loop back
	// inside the stack instead of going out of a NIC.
	HandleLocal bool

	// NoGRO turns off the receive offload that coalesces in-order TCP
	// segments of a batch delivered by a link with RX checksum offload
	// (see BatchDispatcher).
	NoGRO bool

	// RandSource drives every random choice of the stack (ephemeral
	// ports, initial sequence numbers, timer jitter). nil seeds one from
	// crypto/rand; a fixed source makes a simulation reproducible.
	RandSource rand.Source

	// UniqueID returns IDs for endpoints; nil uses a counter of the
	// stack's own.
	UniqueID func() uint64

	// RawFactory allows raw IP and packet endpoints; without it they are
	// refused with tcpip.ErrNotPermitted.
	RawFactory RawFactory

	// NUDConfig is the default neighbour-cache configuration of new NICs;
	// the zero value means DefaultNUDConfig. Invalid fields are replaced
	// by their defaults.
	NUDConfig NUDConfig

	// NDPConfigs is the NDP configuration new NICs start with (DAD,
	// router solicitation, router advertisement processing, SLAAC,
	// router advertising). Its zero value turns all of them off, as in
	// gVisor; DefaultNDPConfigurations has the RFC 4861/4862 defaults.
	// Invalid values are replaced by their defaults.
	NDPConfigs NDPConfigurations

	// NDPDisp receives NDP and autoconfiguration events; nil: none.
	NDPDisp NDPDispatcher

	// OpaqueIIDOpts selects RFC 7217 opaque interface identifiers for
	// the addresses the stack forms.
	OpaqueIIDOpts OpaqueInterfaceIdentifierOptions
}

// Stack is a TCP/IP stack: NICs, protocols and endpoints sharing one set of
// tables, one Clock and one Stats tree.
type Stack struct {
	clock       tcpip.Clock
	stats       *tcpip.Stats
	handleLocal bool
	noGRO       bool // Options.NoGRO
	rawFactory  RawFactory
	uniqueID    func() uint64
	nextID      atomic.Uint64
	seed        uint32
	nudConfig   NUDConfig
	ndpConfigs  NDPConfigurations
	ndpDisp     NDPDispatcher
	opaqueIID   OpaqueInterfaceIdentifierOptions

	randMu sync.Mutex
	rand   *rand.Rand // guarded by randMu

	networkProtocols   map[tcpip.NetworkProtocolNumber]NetworkProtocol      // fixed after New
	transportProtocols map[tcpip.TransportProtocolNumber]*transportProtocol // fixed after New

	demux       *transportDemuxer
	ports       *PortManager
	icmpLimiter *ICMPRateLimiter
	local       localQueue         // handle-local deliveries
	packetEPs   packetEndpointList // AF_PACKET endpoints of every NIC

	tcpProbe atomic.Pointer[TCPProbeFunc] // AddTCPProbe; nil: none

	sharedRoutes routeCache // the Routes FindRoute returned, shared

	mu         sync.RWMutex
	nics       map[tcpip.NICID]*nic                 // guarded by mu
	routes     []tcpip.Route                        // guarded by mu; copy on write
	forwarding map[tcpip.NetworkProtocolNumber]bool // guarded by mu
	closed     bool                                 // guarded by mu

	// nicView is a copy of nics that the packet paths read without
	// taking mu (DESIGN.md: lock-free reads of the stack's tables on the
	// fast path); it is replaced, never modified, under mu whenever nics
	// changes (publishNICsLocked).
	nicView atomic.Pointer[map[tcpip.NICID]*nic]
}

// transportProtocol is a transport protocol and its default handler.
type transportProtocol struct {
	proto TransportProtocol

	mu             sync.RWMutex
	defaultHandler func(TransportEndpointID, NetworkPacketInfo, *buffer.Packet) bool // guarded by mu
}

// Clock returns the stack's clock.
func (s *Stack) Clock() tcpip.Clock { return s.clock }

// Stats returns the stack's counters.
func (s *Stack) Stats() *tcpip.Stats { return s.stats }

// Seed returns a random value fixed for the stack's lifetime, for hashing
// (ephemeral port selection, SYN cookies, ISNs).
func (s *Stack) Seed() uint32 { return s.seed }

// UniqueID returns an ID no other call of this stack returns.
func (s *Stack) UniqueID() uint64 {
	if s.uniqueID != nil {
		return s.uniqueID()
	}
	return s.nextID.Add(1)
}

// RandUint64 returns a random number from the stack's source.
func (s *Stack) RandUint64() uint64 {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.rand.Uint64()
}

// RandFloat64 returns a random number in [0, 1) from the stack's source.
func (s *Stack) RandFloat64() float64 {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.rand.Float64()
}

func newRandSource(src rand.Source) *rand.Rand {
	if src == nil {
		var b [16]byte
		crand.Read(b[:])
		src = rand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:]))
	}
	return rand.New(src)
}

// New returns a stack running the given protocols. It starts no goroutine.
func New(opts Options) *Stack {
	clock := opts.Clock
	if clock == nil {
		clock = tcpip.NewStdClock()
	}
	stats := opts.Stats
	if stats == nil {
		stats = new(tcpip.Stats)
	}
	s := &Stack{
		clock:              clock,
		stats:              stats,
		handleLocal:        opts.HandleLocal,
		noGRO:              opts.NoGRO,
		rawFactory:         opts.RawFactory,
		uniqueID:           opts.UniqueID,
		nudConfig:          opts.NUDConfig.Validated(),
		ndpConfigs:         opts.NDPConfigs.Validated(),
		ndpDisp:            opts.NDPDisp,
		opaqueIID:          opts.OpaqueIIDOpts,
		rand:               newRandSource(opts.RandSource),
		networkProtocols:   make(map[tcpip.NetworkProtocolNumber]NetworkProtocol),
		transportProtocols: make(map[tcpip.TransportProtocolNumber]*transportProtocol),
		nics:               make(map[tcpip.NICID]*nic),
		forwarding:         make(map[tcpip.NetworkProtocolNumber]bool),
		icmpLimiter:        newICMPRateLimiter(clock),
	}
	s.seed = uint32(s.rand.Uint64())
	s.ports = NewPortManager(s.seed, func() uint32 { return uint32(s.RandUint64()) })
	s.demux = newTransportDemuxer(s)
	s.local.s = s
	for _, f := range opts.NetworkProtocols {
		p := f(s)
		s.networkProtocols[p.Number()] = p
	}
	for _, f := range opts.TransportProtocols {
		p := f(s)
		s.transportProtocols[p.Number()] = &transportProtocol{proto: p}
	}
	return s
}

// NetworkProtocolInstance returns the stack's instance of a network
// protocol, or nil.
func (s *Stack) NetworkProtocolInstance(n tcpip.NetworkProtocolNumber) NetworkProtocol {
	return s.networkProtocols[n]
}

// TransportProtocolInstance returns the stack's instance of a transport
// protocol, or nil.
func (s *Stack) TransportProtocolInstance(n tcpip.TransportProtocolNumber) TransportProtocol {
	if p := s.transportProtocols[n]; p != nil {
		return p.proto
	}
	return nil
}

// SetNetworkProtocolOption sets an option of a network protocol.
func (s *Stack) SetNetworkProtocolOption(n tcpip.NetworkProtocolNumber, opt any) error {
	p := s.networkProtocols[n]
	if p == nil {
		return tcpip.ErrUnknownProtocol
	}
	return p.SetOption(opt)
}

// NetworkProtocolOption reads an option of a network protocol into opt, a
// pointer to one of the protocol's option types.
func (s *Stack) NetworkProtocolOption(n tcpip.NetworkProtocolNumber, opt any) error {
	p := s.networkProtocols[n]
	if p == nil {
		return tcpip.ErrUnknownProtocol
	}
	return p.Option(opt)
}

// SetTransportProtocolOption sets an option of a transport protocol.
func (s *Stack) SetTransportProtocolOption(n tcpip.TransportProtocolNumber, opt any) error {
	p := s.transportProtocols[n]
	if p == nil {
		return tcpip.ErrUnknownProtocol
	}
	return p.proto.SetOption(opt)
}

// TransportProtocolOption reads an option of a transport protocol.
func (s *Stack) TransportProtocolOption(n tcpip.TransportProtocolNumber, opt any) error {
	p := s.transportProtocols[n]
	if p == nil {
		return tcpip.ErrUnknownProtocol
	}
	return p.proto.Option(opt)
}

// SetTransportProtocolHandler sets the handler of packets of a transport
// protocol that match no endpoint. It returns true if it took the packet
// (owning it then); returning false lets the protocol answer as usual (TCP
// RST, ICMP port unreachable). This is how a tun2socks-style proxy sees
// every connection. A nil h removes the handler.
func (s *Stack) SetTransportProtocolHandler(n tcpip.TransportProtocolNumber, h func(TransportEndpointID, NetworkPacketInfo, *buffer.Packet) bool) error {
	p := s.transportProtocols[n]
	if p == nil {
		return tcpip.ErrUnknownProtocol
	}
	p.mu.Lock()
	p.defaultHandler = h
	p.mu.Unlock()
	return nil
}

// NewEndpoint returns a new endpoint of a transport protocol over a network
// protocol (IPv6 endpoints are dual-stack unless V6OnlyOption is set).
func (s *Stack) NewEndpoint(transport tcpip.TransportProtocolNumber, network tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	p := s.transportProtocols[transport]
	if p == nil || s.networkProtocols[network] == nil {
		return nil, tcpip.ErrUnknownProtocol
	}
	if s.isClosed() {
		return nil, tcpip.ErrStackClosed
	}
	return p.proto.NewEndpoint(network)
}

// NewRawEndpoint returns a raw IP endpoint for a transport protocol number.
// associated means the protocol is one the stack runs (the raw endpoint
// sees copies of its packets); otherwise it handles the protocol itself.
// Without Options.RawFactory it returns tcpip.ErrNotPermitted.
func (s *Stack) NewRawEndpoint(transport tcpip.TransportProtocolNumber, network tcpip.NetworkProtocolNumber, associated bool) (tcpip.Endpoint, error) {
	if s.rawFactory == nil {
		return nil, tcpip.ErrNotPermitted
	}
	if s.networkProtocols[network] == nil {
		return nil, tcpip.ErrUnknownProtocol
	}
	return s.rawFactory.NewRawEndpoint(s, network, transport, associated)
}

// NewPacketEndpoint returns a link-level endpoint (AF_PACKET): cooked ones
// see and send packets without their link header. netProto 0 means every
// protocol. Without Options.RawFactory it returns tcpip.ErrNotPermitted.
func (s *Stack) NewPacketEndpoint(cooked bool, netProto tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	if s.rawFactory == nil {
		return nil, tcpip.ErrNotPermitted
	}
	return s.rawFactory.NewPacketEndpoint(s, cooked, netProto)
}

// SetForwarding turns IP forwarding between NICs on or off for a protocol.
func (s *Stack) SetForwarding(n tcpip.NetworkProtocolNumber, on bool) error {
	if s.networkProtocols[n] == nil {
		return tcpip.ErrUnknownProtocol
	}
	s.mu.Lock()
	s.forwarding[n] = on
	s.mu.Unlock()
	// Endpoints whose behaviour depends on it (an IPv6 router
	// advertises and stops soliciting, RFC 4861 §6.2) are told.
	for _, nc := range s.nicList() {
		if f, ok := nc.networkEndpoints[n].(ForwardingObserver); ok {
			f.ForwardingChanged(on)
		}
	}
	return nil
}

// ForwardingObserver is implemented by network endpoints that act on a
// change of their protocol's forwarding (SetForwarding).
type ForwardingObserver interface {
	ForwardingChanged(on bool)
}

// Forwarding reports whether IP forwarding is on for a protocol.
func (s *Stack) Forwarding(n tcpip.NetworkProtocolNumber) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.forwarding[n]
}

// HandleLocal reports whether packets to the stack's own addresses loop
// back inside it.
func (s *Stack) HandleLocal() bool { return s.handleLocal }

func (s *Stack) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// Close closes every endpoint and NIC and stops the protocols. Afterwards
// the stack accepts nothing new. Close returns once all of it is done; Wait
// is kept for API compatibility and returns at once after Close.
func (s *Stack) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()

	s.demux.abortAll()

	s.mu.Lock()
	nics := make([]*nic, 0, len(s.nics))
	for _, n := range s.nics {
		nics = append(nics, n)
	}
	s.nics = map[tcpip.NICID]*nic{}
	s.publishNICsLocked()
	s.routes = nil
	s.mu.Unlock()
	s.abortPacketEndpoints(nics)
	for _, n := range nics {
		n.remove()
	}
	s.local.close()
	for _, p := range s.transportProtocols {
		p.proto.Close()
	}
	for _, p := range s.networkProtocols {
		p.Close()
	}
}

// abortPacketEndpoints aborts the packet endpoints registered for every
// NIC and for each of nics, each once, those that can be
// (PacketEndpointAborter); it holds no lock while calling Abort, so that
// they unregister themselves as on Close (from the lists of nics, which
// the stack no longer holds, only the stack-wide list matters).
func (s *Stack) abortPacketEndpoints(nics []*nic) {
	eps := s.packetEPs.endpoints()
	for _, n := range nics {
		eps = append(eps, n.packetEPs.endpoints()...)
	}
	seen := make(map[PacketEndpoint]struct{}, len(eps))
	for _, ep := range eps {
		if _, ok := seen[ep]; ok {
			continue
		}
		seen[ep] = struct{}{}
		if a, ok := ep.(PacketEndpointAborter); ok {
			a.Abort()
		}
	}
}

// Wait returns once every worker of the stack has stopped. ustack's stack
// has no workers of its own beyond its links (stopped by Close), so Wait
// only makes sure Close has finished.
func (s *Stack) Wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
}
