package sim

import (
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/sniffer"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/udp"
)

// Network is a simulated network: hosts running real stacks, links between
// them, and the virtual clock they all share. It is not safe for
// concurrent use: one goroutine builds it, drives it (Run, RunUntil) and
// closes it, and every packet and timer of every host runs on that
// goroutine.
type Network struct {
	seed   uint64
	clock  *tcpip.ManualClock
	start  tcpip.MonotonicTime
	hosts  []*Host
	byName map[string]*Host
	links  []*Link
	pairs  map[[2]*Host]int // links made so far between two hosts
	closer []func()         // transfers to stop at Close, in start order
	events uint64
	// instant is the time of the last event run and atInstant the
	// events run at it, for the livelock check.
	instant   tcpip.MonotonicTime
	atInstant int
	tracer    func(Event)
	closed    bool
}

// New returns an empty network whose every random choice derives from
// seed.
func New(seed uint64) *Network {
	c := tcpip.NewManualClock()
	return &Network{
		seed:   seed,
		clock:  c,
		start:  c.NowMonotonic(),
		byName: make(map[string]*Host),
		pairs:  make(map[[2]*Host]int),
	}
}

// Seed returns the network's seed.
func (n *Network) Seed() uint64 { return n.seed }

// Clock returns the virtual clock every host of the network uses.
func (n *Network) Clock() *tcpip.ManualClock { return n.clock }

// Now returns the virtual time elapsed since New.
func (n *Network) Now() time.Duration { return n.clock.NowMonotonic().Sub(n.start) }

// Events returns the number of clock events (frame arrivals, protocol
// timers, transfer steps) run so far.
func (n *Network) Events() uint64 { return n.events }

// Hosts returns the hosts in the order they were added.
func (n *Network) Hosts() []*Host { return append([]*Host(nil), n.hosts...) }

// Host returns the host of that name, or nil.
func (n *Network) Host(name string) *Host { return n.byName[name] }

// Links returns the links in the order they were made.
func (n *Network) Links() []*Link { return append([]*Link(nil), n.links...) }

// Run runs every event due within the next d of virtual time, in order,
// and leaves the clock d later.
func (n *Network) Run(d time.Duration) {
	end := n.clock.NowMonotonic().Add(d)
	for {
		at, ok := n.clock.NextDeadline()
		if !ok || at.After(end) {
			break
		}
		n.step()
	}
	n.clock.AdvanceTo(end)
}

// RunUntil runs events in order until cond holds, checking it before each
// event, and reports whether it held. It gives up, leaving the clock at
// most limit later, when the next event is more than limit away from the
// start of the call, or when no event is pending at all (nothing could
// change cond any more).
func (n *Network) RunUntil(cond func() bool, limit time.Duration) bool {
	end := n.clock.NowMonotonic().Add(limit)
	for !cond() {
		at, ok := n.clock.NextDeadline()
		if !ok {
			return false
		}
		if at.After(end) {
			n.clock.AdvanceTo(end)
			return cond()
		}
		n.step()
	}
	return true
}

// RunIdle runs events until none is pending or the next is more than
// limit away from the start of the call, and reports whether the network
// went idle. Hosts with periodic timers never go idle.
func (n *Network) RunIdle(limit time.Duration) bool {
	end := n.clock.NowMonotonic().Add(limit)
	for {
		at, ok := n.clock.NextDeadline()
		if !ok {
			return true
		}
		if at.After(end) {
			n.clock.AdvanceTo(end)
			return false
		}
		n.step()
	}
}

// MaxEventsPerInstant bounds the events Run and RunUntil run without
// virtual time moving on: more means hosts are answering each other (or a
// transfer is spinning) in a loop that would never end, and the run
// panics to say so rather than hang.
const MaxEventsPerInstant = 1 << 20

func (n *Network) step() {
	if !n.clock.RunNext() {
		return
	}
	n.events++
	if now := n.clock.NowMonotonic(); now != n.instant {
		n.instant, n.atInstant = now, 0
		return
	}
	if n.atInstant++; n.atInstant > MaxEventsPerInstant {
		panic(fmt.Sprintf("sim: more than %d events at %v without time moving on: a livelock", MaxEventsPerInstant, n.Now()))
	}
}

// Close stops the transfers, closes every host's stack (and with them
// every link), and then checks that the clock has nothing pending: a
// timer left behind is a leak (DESIGN.md principle 10) and is reported as
// an error.
func (n *Network) Close() error {
	if n.closed {
		return nil
	}
	n.closed = true
	for _, c := range n.closer {
		c()
	}
	n.closer = nil
	for _, h := range n.hosts {
		h.s.Close()
	}
	for _, l := range n.links {
		for _, p := range l.ends {
			p.Close()
		}
	}
	if p := n.clock.Pending(); p != 0 {
		at, _ := n.clock.NextDeadline()
		return fmt.Errorf("sim: %d timers still pending after Close (next at %v)", p, at.Sub(n.start))
	}
	return nil
}

// onClose registers f to run first in Close.
func (n *Network) onClose(f func()) { n.closer = append(n.closer, f) }

// EventKind says what happened to a frame.
type EventKind uint8

// Kinds of Event.
const (
	EventSend      EventKind = iota + 1 // written into a direction by the sending NIC
	EventDeliver                        // handed to the receiving NIC
	EventDropLoss                       // lost (Props.Loss)
	EventDropQueue                      // transmit queue full
	EventDropMTU                        // larger than the MTU
	EventDropDown                       // the receiving end is closed
	EventDuplicate                      // copied (both copies are delivered)
	EventCorrupt                        // one bit flipped
	EventReorder                        // held ReorderDelay longer
	EventMarkCE                         // marked Congestion Experienced (ECN)
)

var eventNames = [...]string{
	EventSend: "send", EventDeliver: "deliver", EventDropLoss: "drop-loss",
	EventDropQueue: "drop-queue", EventDropMTU: "drop-mtu", EventDropDown: "drop-down",
	EventDuplicate: "duplicate", EventCorrupt: "corrupt", EventReorder: "reorder",
	EventMarkCE: "mark-ce",
}

// String returns the kind's name ("send", "drop-loss", …).
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something that happened to a frame on a link, as the Trace
// hook sees it. Events are comparable, so traces of two runs can be
// compared with ==.
type Event struct {
	Time time.Duration // virtual time since New
	Kind EventKind
	Link string // Link.Name
	Dir  Dir
	Seq  uint64 // the frame's number in its direction, from 1
	Size int    // bytes of the frame, Ethernet header included
	Hash uint64 // FNV-1a of the frame's bytes (after corruption, for EventCorrupt)
}

// String formats the event on one line.
func (e Event) String() string {
	return fmt.Sprintf("%v %s %s #%d %s %dB %016x", e.Time, e.Link, e.Dir, e.Seq, e.Kind, e.Size, e.Hash)
}

// SetTrace makes f see every Event from now on (nil stops tracing). f runs
// on the driving goroutine in the middle of the network's work: it must
// not call into links or hosts.
func (n *Network) SetTrace(f func(Event)) { n.tracer = f }

func (n *Network) trace(d *direction, k EventKind, seq uint64, pkt *buffer.Packet) {
	if n.tracer == nil {
		return
	}
	n.tracer(Event{
		Time: n.Now(), Kind: k, Link: d.link.name, Dir: d.dir, Seq: seq,
		Size: pkt.Len(), Hash: frameHash(pkt),
	})
}

// HostOptions configure a host made by AddHost. The zero value is an
// IPv4 host with ARP, UDP and ICMP echo.
type HostOptions struct {
	// Networks and Transports are added to the default protocols
	// (ipv4, arp; udp, icmp echo): tcp.NewProtocol, say.
	Networks   []stack.NetworkProtocolFactory
	Transports []stack.TransportProtocolFactory
	// IPv6 adds IPv6 (network/ipv6: ICMPv6, neighbour discovery, an
	// EUI-64 link-local address on every NIC) and ICMPv6 echo endpoints
	// to the defaults, making the host dual-stack: its links may then
	// carry IPv6 addresses (LinkConfig). Listing ipv6.NewProtocol in
	// Networks does the same but for the echo endpoints.
	IPv6 bool
	// Forwarding makes the host a router: IPv4 forwarding on, and IPv6
	// forwarding if the host runs IPv6.
	Forwarding bool
	// RawFactory enables raw and packet endpoints.
	RawFactory stack.RawFactory
	// NUDConfig is the neighbour cache configuration; zero means the
	// stack's default.
	NUDConfig stack.NUDConfig
	// Stats, if not nil, receives the stack's counters.
	Stats *tcpip.Stats
	// HandleLocal is stack.Options.HandleLocal: traffic to the host's
	// own addresses stays inside its stack.
	HandleLocal bool
	// NDPConfigs is stack.Options.NDPConfigs, for hosts running IPv6:
	// the zero value turns DAD, router discovery, SLAAC and advertising
	// off.
	NDPConfigs stack.NDPConfigurations
}

// Host is a simulated machine: a real *stack.Stack on the network's clock.
type Host struct {
	net   *Network
	name  string
	s     *stack.Stack
	nextN tcpip.NICID
	links []*Link
	addrs []netip.Prefix // in the order the links were connected
	nics  []tcpip.NICID  // NIC of each of addrs
}

// AddHost adds a host running a new stack on the network's clock. Its
// random source is a PCG seeded with the network's seed and a hash of the
// name, so a host draws the same numbers whatever other hosts exist. Names
// must be unique.
func (n *Network) AddHost(name string, opts HostOptions) *Host {
	if _, dup := n.byName[name]; dup {
		panic("sim: duplicate host name " + name)
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	nets := []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol}
	trans := []stack.TransportProtocolFactory{udp.NewProtocol, icmp.NewProtocol4}
	if opts.IPv6 {
		nets = append(nets, ipv6.NewProtocol)
		trans = append(trans, icmp.NewProtocol6)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   append(nets, opts.Networks...),
		TransportProtocols: append(trans, opts.Transports...),
		Clock:              n.clock,
		RandSource:         rand.NewPCG(n.seed^hostStreamSalt, h.Sum64()),
		RawFactory:         opts.RawFactory,
		NUDConfig:          opts.NUDConfig,
		Stats:              opts.Stats,
		HandleLocal:        opts.HandleLocal,
		NDPConfigs:         opts.NDPConfigs,
	})
	if opts.Forwarding {
		if err := s.SetForwarding(tcpip.IPv4ProtocolNumber, true); err != nil {
			panic("sim: " + err.Error())
		}
		if s.NetworkProtocolInstance(tcpip.IPv6ProtocolNumber) != nil {
			if err := s.SetForwarding(tcpip.IPv6ProtocolNumber, true); err != nil {
				panic("sim: " + err.Error())
			}
		}
	}
	host := &Host{net: n, name: name, s: s, nextN: 1}
	n.hosts = append(n.hosts, host)
	n.byName[name] = host
	return host
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Stack returns the host's stack.
func (h *Host) Stack() *stack.Stack { return h.s }

// Network returns the network of the host.
func (h *Host) Network() *Network { return h.net }

// Stats returns the host's stack counters.
func (h *Host) Stats() *tcpip.Stats { return h.s.Stats() }

// Addr returns the host's address on its first link, or the zero Addr.
func (h *Host) Addr() netip.Addr {
	if len(h.addrs) == 0 {
		return netip.Addr{}
	}
	return h.addrs[0].Addr()
}

// AddrOf returns the host's first address of the family of proto
// (tcpip.IPv4ProtocolNumber or tcpip.IPv6ProtocolNumber), or the zero
// Addr: the IPv6 address of a dual-stack host, say.
func (h *Host) AddrOf(proto tcpip.NetworkProtocolNumber) netip.Addr {
	for _, p := range h.addrs {
		if tcpip.NetworkProtocolFor(p.Addr()) == proto {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// Addrs returns the host's addresses in the order they were configured:
// those of each link (AddrA or AddrB, then MoreA or MoreB) in the order
// the links were made.
func (h *Host) Addrs() []netip.Prefix { return append([]netip.Prefix(nil), h.addrs...) }

// AddRoute routes dst through gw, a neighbour on one of the host's links
// (found by the link's subnet).
func (h *Host) AddRoute(dst netip.Prefix, gw netip.Addr) error {
	for i, p := range h.addrs {
		if p.Masked().Contains(gw) {
			return h.s.AddRoute(tcpip.Route{Destination: dst, Gateway: gw, NIC: h.nics[i]})
		}
	}
	return fmt.Errorf("sim: %s has no link on which %v is a neighbour", h.name, gw)
}

// SetDefaultRoute routes every destination of gw's family without a more
// specific route through gw.
func (h *Host) SetDefaultRoute(gw netip.Addr) error {
	if gw.Is6() && !gw.Is4In6() {
		return h.AddRoute(netip.PrefixFrom(netip.IPv6Unspecified(), 0), gw)
	}
	return h.AddRoute(netip.PrefixFrom(netip.IPv4Unspecified(), 0), gw)
}

// LinkConfig configures a link made by Connect.
type LinkConfig struct {
	// AddrA and AddrB are the addresses of the two NICs, IPv4 or IPv6
	// (for hosts running IPv6: HostOptions.IPv6); each prefix is also
	// routed on-link through its NIC. An invalid prefix leaves its NIC
	// without an address.
	AddrA, AddrB netip.Prefix
	// MoreA and MoreB are further addresses of the two NICs, configured
	// and routed like AddrA and AddrB: the other family's address of a
	// dual-stack link, say.
	MoreA, MoreB []netip.Prefix
	// MTU the NICs report; zero means 1500.
	MTU uint32
	// AB and BA are the properties of the two directions.
	AB, BA Props
	// CaptureA and CaptureB, if not nil, receive a pcap (nanosecond
	// timestamps of virtual time, Ethernet frames) of what host a's,
	// respectively host b's, NIC sends and receives on the link:
	// link/sniffer under the Ethernet framing. Open it with tshark or
	// Wireshark to see a failing seed's run.
	CaptureA, CaptureB io.Writer
	// ChecksumOffload makes both NICs report receive and transmit
	// checksum offload, as a link/pipe does by default: the stacks then
	// neither compute nor verify TCP and UDP checksums on the link, and a
	// host forwarding from it to a link without offload must fill them
	// in. Corruption (Props.Corrupt) then goes undetected.
	ChecksumOffload bool
}

// Connect makes a point-to-point Ethernet link between a new NIC on a and
// one on b. Link addresses are 02:00:LL:LL:LL:0a and …:0b, LL the link's
// index, so traces do not depend on anything but the order of calls.
func (n *Network) Connect(a, b *Host, cfg LinkConfig) (*Link, error) {
	if a == b {
		return nil, fmt.Errorf("sim: cannot link %s to itself", a.name)
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = 1500
	}
	idx := len(n.links)
	name := a.name + "-" + b.name
	if k := n.pairs[[2]*Host{a, b}]; k > 0 {
		name = fmt.Sprintf("%s#%d", name, k+1)
	}
	l := &Link{net: n, index: idx, name: name, a: a, b: b, mtu: mtu}
	mac := func(side byte) tcpip.LinkAddress {
		return tcpip.LinkAddress{0x02, 0x00, byte(idx >> 16), byte(idx >> 8), byte(idx), side}
	}
	pa := &port{link: l, addr: mac(0x0a)}
	pb := &port{link: l, addr: mac(0x0b)}
	if cfg.ChecksumOffload {
		pa.caps = stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload
		pb.caps = pa.caps
	}
	l.ends = [2]*port{pa, pb}
	l.dirs = [2]*direction{
		newDirection(l, AToB, pb, n.seed, cfg.AB),
		newDirection(l, BToA, pa, n.seed, cfg.BA),
	}
	pa.out, pb.out = l.dirs[0], l.dirs[1]
	var err error
	if l.nicA, err = a.attach(l, pa, append([]netip.Prefix{cfg.AddrA}, cfg.MoreA...), cfg.CaptureA); err != nil {
		return nil, err
	}
	if l.nicB, err = b.attach(l, pb, append([]netip.Prefix{cfg.AddrB}, cfg.MoreB...), cfg.CaptureB); err != nil {
		return nil, err
	}
	n.pairs[[2]*Host{a, b}]++
	n.links = append(n.links, l)
	return l, nil
}

// MustConnect is Connect that panics on error, for tests and examples.
func (n *Network) MustConnect(a, b *Host, cfg LinkConfig) *Link {
	l, err := n.Connect(a, b, cfg)
	if err != nil {
		panic(err)
	}
	return l
}

// attach creates the host's NIC on port p with the valid ones of addrs.
func (h *Host) attach(l *Link, p *port, addrs []netip.Prefix, capture io.Writer) (tcpip.NICID, error) {
	for _, addr := range addrs {
		if !addr.IsValid() {
			continue
		}
		proto := tcpip.NetworkProtocolFor(addr.Addr())
		if h.s.NetworkProtocolInstance(proto) == nil {
			return 0, fmt.Errorf("sim: %s does not run the network protocol of %v (HostOptions.IPv6)", h.name, addr)
		}
	}
	id := h.nextN
	h.nextN++
	opts := stack.NICOptions{Name: fmt.Sprintf("eth%d", id-1), Context: l}
	var frames stack.LinkEndpoint = p
	if capture != nil {
		frames = sniffer.New(p, capture, sniffer.Options{
			Clock: h.net.clock, Nanosecond: true, LinkType: sniffer.LinkTypeEthernet,
		})
	}
	if err := h.s.CreateNICWithOptions(id, ethernet.New(frames), opts); err != nil {
		return 0, fmt.Errorf("sim: CreateNIC on %s: %w", h.name, err)
	}
	for _, addr := range addrs {
		if !addr.IsValid() {
			continue
		}
		pa := tcpip.ProtocolAddress{Protocol: tcpip.NetworkProtocolFor(addr.Addr()), Address: addr}
		if err := h.s.AddProtocolAddress(id, pa, stack.AddressProperties{}); err != nil {
			return 0, fmt.Errorf("sim: address %v on %s: %w", addr, h.name, err)
		}
		if err := h.s.AddRoute(tcpip.Route{Destination: addr.Masked(), NIC: id}); err != nil {
			return 0, fmt.Errorf("sim: route %v on %s: %w", addr.Masked(), h.name, err)
		}
		h.addrs = append(h.addrs, addr)
		h.nics = append(h.nics, id)
	}
	h.links = append(h.links, l)
	return id, nil
}
