package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/udp"
)

// stepper runs f from a clock callback soon after it is kicked, once per
// batch of kicks: the bridge between an endpoint's readiness notifications
// (which must not call back into the endpoint) and the work they call for.
type stepper struct {
	clock   tcpip.Clock
	f       func()
	timer   tcpip.Timer
	armed   bool
	stopped bool
}

func (s *stepper) kick() {
	if s.armed || s.stopped {
		return
	}
	s.armed = true
	if s.timer == nil {
		s.timer = s.clock.AfterFunc(0, s.run)
	} else {
		s.timer.Reset(0)
	}
}

func (s *stepper) run() {
	s.armed = false
	if !s.stopped {
		s.f()
	}
}

func (s *stepper) stop() {
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// watch registers a waiter on ep that kicks st on any of mask and returns
// a function that unregisters it.
func watch(ep tcpip.Endpoint, st *stepper, mask tcpip.Events) func() {
	q := ep.WaitQueue()
	h := q.Register(tcpip.WaiterFunc(func(tcpip.Events) { st.kick() }), mask)
	return func() { q.Unregister(h) }
}

// newUDP returns a UDP endpoint of h of network protocol proto bound to
// port (0: ephemeral).
func newUDP(h *Host, proto tcpip.NetworkProtocolNumber, port uint16) (tcpip.Endpoint, error) {
	ep, err := h.s.NewEndpoint(udp.ProtocolNumber, proto)
	if err != nil {
		return nil, err
	}
	if err := ep.Bind(tcpip.FullAddress{Port: port}); err != nil {
		ep.Close()
		return nil, err
	}
	return ep, nil
}

// UDPEcho is a UDP echo server (RFC 862) on a host: every datagram it
// receives goes back to its sender.
type UDPEcho struct {
	ep      tcpip.Endpoint
	st      stepper
	unwatch func()
	buf     []byte
	closed  bool

	// Echoed counts the datagrams sent back; Errors the failed reads
	// and writes.
	Echoed, Errors uint64
}

// StartUDPEcho starts an echo server on h's port. On a host running IPv6
// its endpoint is a dual-stack IPv6 one, serving both families (IPv4
// peers as v4-mapped addresses, RFC 4291 §2.5.5.2). It stops at Close or
// when the network closes.
func StartUDPEcho(h *Host, port uint16) (*UDPEcho, error) {
	proto := tcpip.IPv4ProtocolNumber
	if h.s.NetworkProtocolInstance(tcpip.IPv6ProtocolNumber) != nil {
		proto = tcpip.IPv6ProtocolNumber
	}
	ep, err := newUDP(h, proto, port)
	if err != nil {
		return nil, err
	}
	e := &UDPEcho{ep: ep, buf: make([]byte, 65536)}
	e.st = stepper{clock: h.net.clock, f: e.step}
	e.unwatch = watch(ep, &e.st, tcpip.EventIn)
	h.net.onClose(e.Close)
	return e, nil
}

func (e *UDPEcho) step() {
	for {
		res, err := e.ep.Read(e.buf, tcpip.ReadOptions{NeedRemoteAddr: true})
		if errors.Is(err, tcpip.ErrWouldBlock) {
			return
		}
		if err != nil {
			e.Errors++
			return
		}
		to := res.RemoteAddr
		if _, err := e.ep.Write(e.buf[:res.N], tcpip.WriteOptions{To: &to}); err != nil {
			e.Errors++
			continue
		}
		e.Echoed++
	}
}

// Close stops the server and closes its endpoint.
func (e *UDPEcho) Close() {
	if e.closed {
		return
	}
	e.closed = true
	e.st.stop()
	e.unwatch()
	e.ep.Close()
}

// UDPFlowConfig configures a flow of numbered datagrams: StartUDPStream
// (one way) or StartUDPRequests (to an echo server and back).
type UDPFlowConfig struct {
	// Port is the destination port.
	Port uint16
	// To is the destination address; zero means the destination host's
	// Addr.
	To netip.Addr
	// Size is the UDP payload of each datagram, at least
	// udpFlowHeaderSize (16) bytes; zero means 64.
	Size int
	// Interval between datagrams; zero means 10ms.
	Interval time.Duration
	// Count is the number of datagrams to send; zero means until Stop.
	Count int
}

// udpFlowHeaderSize is the head of a flow datagram: its sequence number
// and the virtual time it was sent, both big-endian uint64s. The rest is a
// pattern derived from the sequence number, checked by the receiver.
const udpFlowHeaderSize = 16

// UDPFlowStats describe a flow of datagrams so far.
type UDPFlowStats struct {
	Sent       uint64 // datagrams written
	SendErrors uint64 // writes refused
	Received   uint64 // datagrams read, duplicates included
	Unique     uint64 // distinct sequence numbers read
	Duplicates uint64 // read again
	Reordered  uint64 // read after a higher sequence number
	Corrupt    uint64 // read with a damaged payload (checksums should make this 0)
	// Latency of the unique datagrams (one way for a stream, round trip
	// for requests): minimum, maximum and sum.
	MinLatency, MaxLatency, TotalLatency time.Duration
}

// MeanLatency returns TotalLatency/Unique.
func (s UDPFlowStats) MeanLatency() time.Duration {
	if s.Unique == 0 {
		return 0
	}
	return s.TotalLatency / time.Duration(s.Unique)
}

// UDPFlow is a flow of numbered datagrams sent at a fixed interval and
// checked where they arrive: losses, duplicates, reordering, damaged
// payloads and latency. StartUDPStream makes a one-way flow to a
// receiver of its own; StartUDPRequests sends requests to an echo server
// and checks the replies.
type UDPFlow struct {
	net   *Network
	cfg   UDPFlowConfig
	to    tcpip.FullAddress
	tx    tcpip.Endpoint
	rx    tcpip.Endpoint
	st    stepper
	tick  tcpip.Timer
	unw   func()
	out   []byte
	in    []byte
	seen  []bool
	maxRx uint64
	stats UDPFlowStats
	done  bool
}

func (f *UDPFlow) init(n *Network, cfg UDPFlowConfig, dst *Host) error {
	if cfg.Size == 0 {
		cfg.Size = 64
	}
	if cfg.Size < udpFlowHeaderSize {
		return fmt.Errorf("sim: UDP flow datagrams need at least %d bytes, not %d", udpFlowHeaderSize, cfg.Size)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Millisecond
	}
	if !cfg.To.IsValid() && dst != nil {
		cfg.To = dst.Addr()
	}
	f.net, f.cfg = n, cfg
	f.to = tcpip.FullAddress{Addr: cfg.To, Port: cfg.Port}
	f.out = make([]byte, cfg.Size)
	f.in = make([]byte, cfg.Size+1)
	f.st = stepper{clock: n.clock, f: f.receive}
	return nil
}

// start sends the first datagram now and arms the ticker.
func (f *UDPFlow) start() {
	f.unw = watch(f.rx, &f.st, tcpip.EventIn)
	f.tick = f.net.clock.AfterFunc(0, f.send)
}

func udpFlowPattern(seq uint64, i int) byte { return byte(seq*131 + uint64(i)*7 + 1) }

func (f *UDPFlow) send() {
	if f.done || (f.cfg.Count > 0 && f.stats.Sent+f.stats.SendErrors >= uint64(f.cfg.Count)) {
		return
	}
	seq := f.stats.Sent + f.stats.SendErrors
	binary.BigEndian.PutUint64(f.out[0:], seq)
	binary.BigEndian.PutUint64(f.out[8:], uint64(f.net.Now()))
	for i := udpFlowHeaderSize; i < len(f.out); i++ {
		f.out[i] = udpFlowPattern(seq, i)
	}
	if _, err := f.tx.Write(f.out, tcpip.WriteOptions{To: &f.to}); err != nil {
		f.stats.SendErrors++
	} else {
		f.stats.Sent++
	}
	if f.cfg.Count == 0 || f.stats.Sent+f.stats.SendErrors < uint64(f.cfg.Count) {
		f.tick.Reset(f.cfg.Interval)
	}
}

func (f *UDPFlow) receive() {
	for {
		res, err := f.rx.Read(f.in, tcpip.ReadOptions{})
		if errors.Is(err, tcpip.ErrWouldBlock) || err != nil {
			return
		}
		f.check(f.in[:res.N])
	}
}

func (f *UDPFlow) check(b []byte) {
	s := &f.stats
	s.Received++
	if len(b) != f.cfg.Size {
		s.Corrupt++
		return
	}
	seq := binary.BigEndian.Uint64(b[0:])
	sent := time.Duration(binary.BigEndian.Uint64(b[8:]))
	for i := udpFlowHeaderSize; i < len(b); i++ {
		if b[i] != udpFlowPattern(seq, i) {
			s.Corrupt++
			return
		}
	}
	if seq >= s.Sent+s.SendErrors {
		s.Corrupt++ // never sent
		return
	}
	for uint64(len(f.seen)) <= seq {
		f.seen = append(f.seen, false)
	}
	if f.seen[seq] {
		s.Duplicates++
		return
	}
	f.seen[seq] = true
	s.Unique++
	if seq < f.maxRx {
		s.Reordered++
	}
	f.maxRx = max(f.maxRx, seq)
	lat := f.net.Now() - sent
	if s.Unique == 1 || lat < s.MinLatency {
		s.MinLatency = lat
	}
	s.MaxLatency = max(s.MaxLatency, lat)
	s.TotalLatency += lat
}

// Stop stops sending and receiving and closes the endpoints.
func (f *UDPFlow) Stop() {
	if f.done {
		return
	}
	f.done = true
	f.st.stop()
	if f.tick != nil {
		f.tick.Stop()
	}
	if f.unw != nil {
		f.unw()
	}
	f.tx.Close()
	if f.rx != f.tx {
		f.rx.Close()
	}
}

// Stats returns the flow's statistics so far.
func (f *UDPFlow) Stats() UDPFlowStats { return f.stats }

// AllSent reports whether all Count datagrams have been written (never,
// for a flow without a Count).
func (f *UDPFlow) AllSent() bool {
	return f.cfg.Count > 0 && f.stats.Sent+f.stats.SendErrors >= uint64(f.cfg.Count)
}

// StartUDPStream starts a one-way flow from src to dst's cfg.Port (where
// it binds the receiver); the latency it measures is one way. The first
// datagram leaves now, the next every cfg.Interval. It stops sending
// after cfg.Count datagrams, and stops altogether at Stop or when the
// network closes.
func StartUDPStream(src, dst *Host, cfg UDPFlowConfig) (*UDPFlow, error) {
	s := &UDPFlow{}
	if err := s.init(src.net, cfg, dst); err != nil {
		return nil, err
	}
	proto := tcpip.NetworkProtocolFor(s.cfg.To)
	rx, err := newUDP(dst, proto, cfg.Port)
	if err != nil {
		return nil, err
	}
	tx, err := newUDP(src, proto, 0)
	if err != nil {
		rx.Close()
		return nil, err
	}
	s.tx, s.rx = tx, rx
	s.start()
	src.net.onClose(s.Stop)
	return s, nil
}

// StartUDPRequests starts sending requests from src to an echo server
// (StartUDPEcho) on dst's cfg.Port; the replies come back to the same
// endpoint and the latency it measures is the round trip. The first
// request leaves now, the next every cfg.Interval.
func StartUDPRequests(src, dst *Host, cfg UDPFlowConfig) (*UDPFlow, error) {
	r := &UDPFlow{}
	if err := r.init(src.net, cfg, dst); err != nil {
		return nil, err
	}
	ep, err := newUDP(src, tcpip.NetworkProtocolFor(r.cfg.To), 0)
	if err != nil {
		return nil, err
	}
	r.tx, r.rx = ep, ep
	r.start()
	src.net.onClose(r.Stop)
	return r, nil
}
