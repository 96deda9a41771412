package tcp

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// reservation is a port held in the stack's PortManager, with the exact
// arguments ReleasePort needs.
type reservation struct {
	addr      netip.Addr
	dest      netip.AddrPort
	port      uint16
	netProtos netProtoSet
	flags     stack.PortFlags
	device    tcpip.NICID
}

// endpointRecovery is the part of an endpoint that only a connection
// carrying data needs: loss recovery (RFC 6675 scoreboard, RACK-TLP, PRR,
// spurious retransmission undo, F-RTO) and the out-of-order queue with
// its SACK and D-SACK reporting. An idle established connection never
// allocates it (DESIGN.md principle 6); recoveryLocked allocates it at
// the first segment processed in a synchronized state, the first data or
// FIN to send, and the first timer or ICMP error of a connection. It is
// guarded by the endpoint's mu.
type endpointRecovery struct {
	ooo        []oooSeg
	oooTmp     []oooSeg // spare slice for oooInsertLocked
	oooFin     bool     // a FIN arrived after a hole, at oooFinSeq
	oooFinSeq  seqnum.Value
	lastOOOSeq seqnum.Value // the latest out-of-order arrival (RFC 2018 §4)
	sackBuf    [header.TCPMaxSACKBlocks]header.SACKBlock
	oooBytes   int

	dupAcks     int
	inRecovery  bool
	recover     seqnum.Value
	recoverSet  bool         // recover holds a past recovery point
	sacked      []seqRange   // SACK scoreboard above SND.UNA, sorted
	rexmitNext  seqnum.Value // next byte to consider for retransmission in recovery
	partialSeen bool         // a partial ACK was seen in this recovery
	reno        renoState    // loss detection without SACK (renolost.go)
	highRxt     seqnum.Value // RFC 6675 HighRxt (exclusive end), see sack.go
	rescueRxt   seqnum.Value // RFC 6675 RescueRxt, valid if rescueSet
	rescueSet   bool
	rxtSndMax   seqnum.Value // SND.MAX at the last retransmission of the recovery
	rack        rackState    // RACK-TLP (RFC 8985), rack.go and tlp.go
	prr         prrState     // proportional rate reduction (RFC 6937), prr.go

	// Spurious recovery detection (RFC 3708 with D-SACK, RFC 4015
	// response), see sack.go.
	undoArmed  bool         // the last SACK recovery may still be undone
	undoRxt    []seqRange   // retransmissions of the episode not yet D-SACKed
	undoDSACKs int          // retransmissions D-SACKed
	undoRxtEnd seqnum.Value // SND.MAX when the latest of undoRxt was sent
	eifel      eifelState   // Eifel detection (RFC 3522), undo.go
	frto       frtoState    // F-RTO (RFC 5682), frto.go

	// D-SACK to report in the next ACK (RFC 2883 §4), valid if
	// dsackPending.
	dsackPending bool
	dsackBlock   header.SACKBlock

	// RTO backoff accounting (Info.RTOs, Info.RTOBackoffTime): the
	// retransmission timeouts of data, and the time from each one to
	// the next ACK of new data. rtoSince is when the current backoff
	// period began, zero outside one; rtoLastAt when the latest timeout
	// fired (rttOnAckLocked).
	rtoCount  uint64
	rtoTotal  time.Duration
	rtoSince  tcpip.MonotonicTime
	rtoLastAt tcpip.MonotonicTime
}

// recoveryLocked allocates e.endpointRecovery if the endpoint has none
// yet, and its congestion control once the handshake negotiated the MSS.
// Code that may run before (the handshake, timers arming, the probe,
// Info) checks for nil instead.
func (e *endpoint) recoveryLocked() {
	if e.endpointRecovery == nil {
		e.endpointRecovery = new(endpointRecovery)
	}
	if e.cc == nil {
		switch e.state {
		case StateClosed, StateListen, StateSynSent:
			// No MSS negotiated yet (negotiateLocked).
		default:
			e.newCCLocked()
		}
	}
}

// borrowRecoveryLocked gives an endpoint without recovery state (or
// congestion control) a new one for the duration of a read-only report
// (Info, the probe: an idle connection reports its initial window) and
// returns the function that takes it back, so that reporting on an idle
// connection does not make it hold the state.
func (e *endpoint) borrowRecoveryLocked() func() {
	rec, cc := e.endpointRecovery == nil, e.cc == nil
	if !rec && !cc {
		return func() {}
	}
	e.recoveryLocked()
	return func() {
		if rec {
			e.endpointRecovery = nil
		}
		if cc {
			e.cc = nil
		}
	}
}

var (
	netProtosV4 = []tcpip.NetworkProtocolNumber{tcpip.IPv4ProtocolNumber}
	netProtosV6 = []tcpip.NetworkProtocolNumber{tcpip.IPv6ProtocolNumber}
)

// oooSeg is a run of out-of-order data held until the hole before it
// fills.
type oooSeg struct {
	seq  seqnum.Value
	data buffer.Buffer
}

// The backlog of an endpoint whose lock is busy is bounded by bytes, as
// Linux's tcp_add_backlog bounds it by its buffer sizes: a bulk receiver
// whose reader holds the lock for a moment must not lose a window's worth
// of segments (RFC 9293 §3.8.6: the receive window is a promise to accept
// that much data). Each queued segment is charged the memory its packet
// holds plus backlogSegOverhead, so a flood of tiny segments meets the
// byte bound long before it could exhaust memory; maxBacklogSegs is a
// hard cap on the count as a further safety net. Segments beyond either
// bound are dropped and counted as a full receive buffer would.
//
// The bound is 2·rcvBufSize + sndBufSize (backlogLimitFor). Our window
// admits rcvBufSize bytes of payload, and a full-sized segment in a chunk
// of a power-of-two size class plus the overhead is charged up to about
// 1.7 times its payload: with the bound of Linux, whose rcvbuf is about
// twice its window, a whole window arriving while the reader holds the
// lock fits. A segment that keeps a much larger chunk alive is copied out
// before it is queued (deliver).
const (
	backlogSegOverhead = 256
	maxBacklogSegs     = 1 << 16
)

// endpoint is a TCP endpoint: a listener or a connection. It implements
// tcpip.Endpoint for its user and stack.TransportEndpoint for the
// demultiplexer.
//
// Locking: mu guards every field below it; bmu guards the backlog only
// and is a leaf. A listener's mu comes before its children's mu (a
// listener hands segments to a new child and closes unaccepted ones); a
// child never takes its listener's lock. mu is held while calling the
// stack (port manager, demultiplexer, routes, sending), never while
// notifying the wait queue. The fields above bmu are fixed at creation.
type endpoint struct {
	p         *protocol
	s         *stack.Stack
	uniqueID  uint64
	waitQueue tcpip.WaitQueue
	stats     tcpip.EndpointStats
	netProto  tcpip.NetworkProtocolNumber

	// isListener is set when the endpoint starts listening, for port
	// selection to read without mu.
	isListener atomic.Bool

	bmu sync.Mutex
	// bq (guarded by bmu) holds the backlog, nil until the first
	// segment that found mu held: an endpoint that never meets
	// contention does not carry it.
	bq           *backlogQueue
	backlogBytes int // guarded by bmu: the charge of the backlog
	// backlogLimit (guarded by bmu) is the byte bound on the backlog,
	// backlogLimitFor the buffer sizes as mu's holder last published
	// them (on taking mu for a user call, on each drain and when
	// autotuning grows a buffer); zero until then, meaning the default
	// sizes.
	backlogLimit int

	// Fields below are guarded by mu. Small fields are placed where
	// they fill the gaps that alignment would leave: an idle connection
	// holds the whole struct (DESIGN.md principle 6).
	mu     sync.Mutex
	state  State
	events tcpip.Events // events to notify once mu is released

	// Addressing.
	bound      bool // holds a port reservation (res)
	userBound  bool // res comes from Bind (Linux's SOCK_BINDPORT_LOCK)
	registered bool // registered in the demultiplexer under id
	v6only     bool // V6OnlyOption; fixed once the endpoint has a port

	v4only   bool // bound to ::ffff:0.0.0.0 (dualstack.go)
	regFlags stack.PortFlags

	userClosed  bool // Close was called: no user holds the endpoint
	connectSeen bool // Connect reported the connection's outcome
	everConn    bool // reached ESTABLISHED
	// errPending: hardErr is pending for LastError (and for the next
	// Read or Write), not reported yet.
	errPending bool

	nic      tcpip.NICID // NIC of the connection, 0 if any
	res      reservation
	id       stack.TransportEndpointID
	route    *stack.Route
	bindAddr netip.Addr // unmapped (dualstack.go)

	hardErr  error // the error that closed the connection
	shutdown tcpip.ShutdownFlags

	// Listener state (state == StateListen).
	l *listener

	// Send sequence space (RFC 9293 §3.3.1).
	iss        seqnum.Value
	sndUna     seqnum.Value
	sndNxt     seqnum.Value // next sequence number to send
	sndMax     seqnum.Value // highest sequence number sent + 1
	sndWnd     uint32       // scaled send window
	maxSndWnd  uint32
	sndWl1     seqnum.Value
	sndWl2     seqnum.Value
	sndBuf     buffer.Buffer // data from bufSeq on: unacknowledged and unsent
	sndBufSize int
	bufSeq     seqnum.Value // sequence number of sndBuf's first byte

	// Receive sequence space.
	irs        seqnum.Value
	rcvNxt     seqnum.Value
	rcvAdv     seqnum.Value // right edge of the window advertised
	rcvBuf     buffer.Buffer
	rcvBufSize int

	finQueued bool   // FIN to be sent after sndBuf
	rcvFin    bool   // the peer's FIN was received in order
	chrono    chrono // the current limit (probe.go)

	lastAckSent seqnum.Value // acknowledgment of our last segment (RFC 7323 §4.3 Last.ACK.sent)

	// Negotiated options.
	sndMSS     int   // largest data of a segment we send
	advMSS     int   // MSS we advertised
	peerMSS    int   // peer's MSS option
	sndWS      uint8 // shift of the peer's windows
	rcvWS      uint8 // shift of our windows
	wsOK       bool
	sackOK     bool
	tsOK       bool
	rcvBufUser bool // ReceiveBufferSizeOption set: no receive autotuning (autotune.go)
	sndBufUser bool // SendBufferSizeOption set: no send autotuning
	tsRecent   uint32
	tsOffset   uint32
	tsRecentAt tcpip.MonotonicTime

	rtt rttState
	cc  CongestionControl
	// Loss recovery and out-of-order state, nil until the connection
	// first carries data (recoveryLocked): an idle connection does
	// not hold it. Its fields are reached as e.field.
	*endpointRecovery

	ecn ecnState // ECN (RFC 3168), ecn.go

	// Timers: one clock timer for every deadline (zero: not armed).
	timer       tcpip.Timer
	timerAt     tcpip.MonotonicTime // when timer is set to fire (maybe before the earliest deadline: armLocked), zero if not
	now         tcpip.MonotonicTime // clock read of this locked operation (nowLocked), zero if none
	rtoAt       tcpip.MonotonicTime
	delackAt    tcpip.MonotonicTime
	keepaliveAt tcpip.MonotonicTime
	closeAt     tcpip.MonotonicTime // TIME-WAIT end, orphan FIN-WAIT-2 end
	lingerAt    tcpip.MonotonicTime // SO_LINGER deadline of a closed connection
	backoff     uint                // exponent of RTO backoff
	retries     int                 // retransmissions of the oldest segment
	headSentAt  tcpip.MonotonicTime // when SND.UNA's segment was first sent
	lastRcvAt   tcpip.MonotonicTime
	kaProbes    int32

	// Delayed ACK (RFC 1122 §4.2.3.2, RFC 5681 §4.2).
	ackPending int32 // full-size segments received and not acknowledged
	quickAcks  int32 // segments to acknowledge at once: quick-ACK mode (connection start, QuickAckOption)

	persist bool // rtoAt is the persist timer

	// Socket options; the rarely set ones in endpointOpts, read as
	// e.field.
	delay     bool // Nagle (DelayOption); off is TCP_NODELAY
	cork      bool
	keepalive bool
	reuseAddr bool
	reusePort bool
	ttl       uint8
	tos       uint8
	bindNIC   tcpip.NICID // NIC of Bind's address (addressing, placed here against padding)
	*endpointOpts

	// Chrono accounting (probe.go): the current limit (chrono, above)
	// and its start inline; the times accounted in extra.
	chronoSince tcpip.MonotonicTime
	// What few endpoints need, or only once active; nil until first
	// needed (extraLocked).
	extra *endpointExtra

	retrans       int // total retransmissions (Info)
	bytesAcked    uint64
	bytesReceived uint64
}

var (
	_ tcpip.Endpoint          = (*endpoint)(nil)
	_ stack.TransportEndpoint = (*endpoint)(nil)
)

func newEndpoint(p *protocol, netProto tcpip.NetworkProtocolNumber) *endpoint {
	p.mu.Lock()
	opts, sndBuf, rcvBuf := p.defaultOpts, p.sndRange.def, p.rcvRange.def
	p.mu.Unlock()
	return &endpoint{
		p:            p,
		s:            p.s,
		netProto:     netProto,
		uniqueID:     p.s.UniqueID(),
		state:        StateClosed,
		sndBufSize:   sndBuf,
		rcvBufSize:   rcvBuf,
		delay:        true,
		endpointOpts: opts,
		ecn:          ecnState{mode: ECNOption(p.ecn.Load())},
	}
}

// endpointExtra is the part of an endpoint that few endpoints need, or
// that only an active connection needs: an endpoint allocates it on first
// need (extraLocked) and keeps it. An idle established connection, which
// has read nothing, received no ICMP error and whose sending limit has
// not changed since it was established, holds none (DESIGN.md principle
// 6). It is guarded by the endpoint's mu, but for probeSpare, guarded by
// its bmu.
type endpointExtra struct {
	// The endpoint's state for its observers (probe.go): the states
	// captured for the stack's TCP probe (stack.AddTCPProbe), the time
	// spent in each sending limit (Info's chrono accounting) and
	// counters nothing else keeps.

	// probeQ holds the states captured under mu, handed to the probe
	// by unlock once mu is released (DESIGN.md "Concurrency": no user
	// callback under an endpoint lock). nil when empty.
	probeQ []stack.TCPEndpointState
	// probeSpare is a drained probeQ kept for reuse (guarded by bmu):
	// with a probe installed, a warm connection captures without
	// allocating.
	probeSpare []stack.TCPEndpointState
	// probeUna is SND.UNA at the last capture: a segment that moved it
	// acknowledged new data, and the RTT sample is its own.
	probeUna seqnum.Value
	// acc and busyT are the time accounted to each limit and to busy
	// (see chrono) up to the endpoint's chronoSince.
	acc   [numLimits]time.Duration
	busyT time.Duration
	// pmtuEvents counts MSS reductions by Packet Too Big (icmp.go).
	pmtuEvents int

	// Receive autotuning (autotune.go), from the first data received
	// or read.
	rcvSpace    uint32 // bytes read in the best measured receiver RTT
	rcvSpaceSeq seqnum.Value
	rcvRTTSeq   seqnum.Value
	rcvRTTAtMs  uint32 // msClock when rcvRTTSeq was set, 0: not measuring
	rcvRTTUs    uint32 // receiver-side RTT estimate in µs, 0: none
	rcvSpaceAt  tcpip.MonotonicTime

	redirect []segment // segments to re-deliver once mu is released
	softErr  error     // last soft ICMP error (RFC 1122 §4.2.3.9)
}

// extraLocked returns the endpoint's endpointExtra, allocating it on
// first use. mu is held.
func (e *endpoint) extraLocked() *endpointExtra {
	if e.extra == nil {
		e.extra = new(endpointExtra)
	}
	return e.extra
}

// endpointOpts holds the socket options that most endpoints leave at
// their defaults. Endpoints share one endpointOpts, the protocol's
// defaults (protocol.defaultOpts) or their listener's, until one sets
// such an option: writeOptsLocked then gives it a copy of its own, so
// that an idle connection carries a pointer rather than the options
// (DESIGN.md principle 6). An endpointOpts is never modified once
// shared: write only through writeOptsLocked.
type endpointOpts struct {
	ccName       string        // CongestionControlOption
	kaIdle       time.Duration // KeepaliveIdleOption
	kaIntvl      time.Duration // KeepaliveIntervalOption
	userTimeout  time.Duration // UserTimeoutOption
	linger       tcpip.LingerOption
	kaCount      int         // KeepaliveCountOption
	maxSeg       int         // MaxSegOption, 0: none
	bindToDevice tcpip.NICID // BindToDeviceOption
}

// newEndpointOpts returns the options of a new endpoint whose
// congestion control is cc.
func newEndpointOpts(cc string) *endpointOpts {
	return &endpointOpts{
		ccName: cc,
		// Linux's defaults: tcp_keepalive_time, _intvl, _probes.
		kaIdle:  2 * time.Hour,
		kaIntvl: 75 * time.Second,
		kaCount: 9,
	}
}

// writeOptsLocked gives the endpoint a copy of its endpointOpts of its
// own, which may be shared, and returns it for the caller to modify.
// Options are set rarely, so it copies every time rather than tracking
// which endpoints share. mu is held.
func (e *endpoint) writeOptsLocked() *endpointOpts {
	o := *e.endpointOpts
	e.endpointOpts = &o
	return &o
}

// UniqueID implements stack.TransportEndpoint.
func (e *endpoint) UniqueID() uint64 { return e.uniqueID }

// WaitQueue implements tcpip.Endpoint.
func (e *endpoint) WaitQueue() *tcpip.WaitQueue { return &e.waitQueue }

// Stats implements tcpip.Endpoint.
func (e *endpoint) Stats() *tcpip.EndpointStats { return &e.stats }

// lock takes mu for a user call and publishes the backlog's byte bound
// for the segments that will queue while the call holds mu.
func (e *endpoint) lock() {
	e.mu.Lock()
	e.publishBacklogLimitLocked()
}

// publishBacklogLimitLocked sets the backlog's byte bound from the
// buffer sizes as they are now. Called with mu held whenever they may
// have grown: autotuning grows the receive buffer, and the window it
// advertises at once, in the middle of a locked section, and the
// segments that window admits must not meet a bound taken before it
// (they would be dropped in the backlog and then taken as lost).
func (e *endpoint) publishBacklogLimitLocked() {
	e.bmu.Lock()
	e.backlogLimit = backlogLimitFor(e.rcvBufSize, e.sndBufSize)
	e.bmu.Unlock()
}

// unlock processes the backlog, releases mu and then notifies the events
// the locked section raised and re-delivers redirected segments
// (DESIGN.md "Concurrency": no notification under the lock). A segment
// queued while mu was held is processed here by the holder.
func (e *endpoint) unlock() {
	for {
		e.drainBacklogLocked()
		e.chronoLocked()
		ev := e.events
		e.events = 0
		in := e.extra
		var probes []stack.TCPEndpointState
		var red []segment
		if in != nil {
			probes, in.probeQ = in.probeQ, nil
			red, in.redirect = in.redirect, nil
		}
		e.now = zeroTime
		e.mu.Unlock()
		if ev != 0 {
			e.waitQueue.Notify(ev)
		}
		for i := range red {
			e.p.redeliver(&red[i])
		}
		if probes != nil {
			e.probeFlush(in, probes)
		}
		// A segment that arrived after the drain and found mu held
		// is ours to process.
		e.bmu.Lock()
		more := e.backlogLenLocked() > 0
		e.bmu.Unlock()
		if !more || !e.mu.TryLock() {
			return
		}
	}
}

// drainBacklogLocked processes the segments queued while mu was held,
// and publishes the backlog's byte bound from the buffer sizes as they
// are now (autotuning grows rcvBufSize while the connection runs).
func (e *endpoint) drainBacklogLocked() {
	for {
		e.bmu.Lock()
		e.backlogLimit = backlogLimitFor(e.rcvBufSize, e.sndBufSize)
		bq := e.bq
		if bq == nil || len(bq.segs) == 0 {
			e.bmu.Unlock()
			return
		}
		q := bq.segs
		bq.segs, bq.spare = bq.spare[:0], nil
		e.backlogBytes = 0
		e.bmu.Unlock()
		for i := range q {
			e.handleSegmentLocked(&q[i])
			q[i] = segment{}
		}
		e.bmu.Lock()
		if bq.spare == nil {
			bq.spare = q[:0]
		}
		e.bmu.Unlock()
	}
}

// notifyLocked records events to notify when mu is released.
func (e *endpoint) notifyLocked(ev tcpip.Events) { e.events |= ev }

// HandlePacket implements stack.TransportEndpoint: the segment is
// validated and processed on this goroutine, or queued in the backlog if a
// user call holds the endpoint (DESIGN.md principle 5).
func (e *endpoint) HandlePacket(id stack.TransportEndpointID, info stack.NetworkPacketInfo, pkt *buffer.Packet) {
	if info.Multicast || info.LocalAddressBroadcast {
		// RFC 9293 §3.10.7.2 and RFC 1122 §4.2.3.10: TCP is
		// unicast; a segment to a broadcast or multicast address is
		// dropped (counted as malformed: no connection can use it).
		e.p.stats.Malformed.Inc()
		pkt.Release()
		return
	}
	g, ok := e.p.parse(id, info, pkt, &e.stats)
	if !ok {
		pkt.Release()
		return
	}
	e.stats.PacketsReceived.Inc()
	e.deliver(g)
}

// deliver processes g under mu, or queues it for the holder of mu.
//
// When mu is free the segment is processed at once, after any segment
// still queued before it, without going through the backlog: an endpoint
// that never meets contention never allocates a backlog array, which
// would otherwise stay with it while idle (DESIGN.md principle 6).
func (e *endpoint) deliver(g segment) {
	if e.mu.TryLock() {
		e.drainBacklogLocked()
		e.handleSegmentLocked(&g)
		e.unlock()
		return
	}
	charge := backlogCharge(&g)
	if g.pkt != nil && g.pkt.Payload.Compact() {
		// As Linux's tcp_add_backlog condenses a segment
		// (skb_condense): a segment that keeps a much larger chunk
		// alive (a view of a sender's buffer that an in-memory link
		// handed over, a small frame in a large receive buffer) is
		// charged the chunk, so its bytes are copied out first. A
		// coalesced (GRO) segment fills its chunks and stays as it is.
		charge = backlogCharge(&g)
	}
	e.bmu.Lock()
	if e.backlogFullLocked(charge) {
		e.bmu.Unlock()
		e.p.stats.ReceiveBufferDrops.Inc()
		e.stats.ReceiveBufferErrors.Inc()
		g.release()
		return
	}
	if e.bq == nil {
		e.bq = new(backlogQueue)
	}
	e.bq.segs = append(e.bq.segs, g)
	e.backlogBytes += charge
	e.bmu.Unlock()
	if !e.mu.TryLock() {
		// The holder processes it before it unlocks (see unlock).
		return
	}
	e.unlock()
}

// backlogLimitLocked returns the backlog's byte bound. bmu is held.
func (e *endpoint) backlogLimitLocked() int {
	if e.backlogLimit == 0 {
		return backlogLimitFor(DefaultReceiveBufferSize, DefaultSendBufferSize)
	}
	return e.backlogLimit
}

// backlogLimitFor returns the backlog's byte bound for the given buffer
// sizes (see the comment above backlogSegOverhead).
func backlogLimitFor(rcvBuf, sndBuf int) int { return 2*rcvBuf + sndBuf }

// backlogFullLocked reports whether a segment of the given charge finds
// the backlog full. As Linux's tcp_add_backlog, the first segment is
// always taken (the bound is on what is already queued), then charges up
// to the bound. bmu is held.
func (e *endpoint) backlogFullLocked(charge int) bool {
	n := e.backlogLenLocked()
	return n >= maxBacklogSegs || (n > 0 && e.backlogBytes+charge > e.backlogLimitLocked())
}

// backlogQueue is an endpoint's backlog: the segments that found its mu
// held, and the array of the last drained backlog, kept for the next
// segments while the drained ones are processed. Guarded by bmu.
type backlogQueue struct {
	segs  []segment // segments waiting for mu
	spare []segment // the drained backlog, reused
}

// backlogLenLocked returns the number of segments in the backlog. bmu is
// held.
func (e *endpoint) backlogLenLocked() int {
	if e.bq == nil {
		return 0
	}
	return len(e.bq.segs)
}

// backlogCharge is what a segment queued in the backlog counts against
// its byte bound: the memory its packet holds (Linux's truesize) plus a
// fixed overhead for the segment itself.
func backlogCharge(g *segment) int {
	n := backlogSegOverhead
	if g.pkt != nil {
		n += g.pkt.Payload.Size() + g.pkt.HeaderLen()
	}
	return n
}

// redeliver hands a segment that an endpoint gave up (a SYN reusing a
// TIME-WAIT connection) to whichever endpoint now matches it.
func (p *protocol) redeliver(g *segment) {
	np := tcpip.NetworkProtocolFor(g.id.RemoteAddress)
	if ep := p.s.FindTransportEndpoint(np, ProtocolNumber, g.id, g.nic); ep != nil {
		if te, ok := ep.(*endpoint); ok {
			te.deliver(*g)
			return
		}
	}
	p.stats.NoEndpoint.Inc()
	p.replyRST(g, g.nic)
	g.release()
}

// Readiness implements tcpip.Endpoint.
func (e *endpoint) Readiness(mask tcpip.Events) tcpip.Events {
	e.lock()
	defer e.unlock()
	return e.readinessLocked() & mask
}

func (e *endpoint) readinessLocked() tcpip.Events {
	var ev tcpip.Events
	switch e.state {
	case StateListen:
		if e.l != nil && len(e.l.acceptQ) > 0 {
			ev |= tcpip.EventIn
		}
		return ev
	case StateSynSent, StateSynReceived:
		return 0
	}
	if e.rcvBuf.Len() > 0 || e.rcvFin || e.shutdown&tcpip.ShutdownRead != 0 {
		ev |= tcpip.EventIn
	}
	if e.rcvFin {
		ev |= tcpip.EventRdHUp
	}
	if e.state.connected() && e.state != StateClosing && e.state != StateLastAck && !e.finQueued && e.writableLocked() {
		ev |= tcpip.EventOut
	}
	if e.errPending {
		ev |= tcpip.EventErr
	}
	if e.state == StateClosed && (e.everConn || e.hardErr != nil) {
		ev |= tcpip.EventHUp | tcpip.EventIn | tcpip.EventOut
	}
	if e.shutdown == tcpip.ShutdownRead|tcpip.ShutdownWrite {
		ev |= tcpip.EventHUp
	}
	return ev
}

// writableLocked reports whether the send buffer has room enough to
// report EventOut: as Linux's sk_stream_is_writeable, free space of at
// least half what is queued, so that a writer is not woken for a few
// bytes at a time.
func (e *endpoint) writableLocked() bool {
	free := e.sndBufSize - e.sndBuf.Len()
	return free > 0 && 2*free >= e.sndBuf.Len()
}

// LocalAddress implements tcpip.Endpoint.
func (e *endpoint) LocalAddress() (tcpip.FullAddress, error) {
	e.lock()
	defer e.unlock()
	a := e.id.LocalAddress
	if !a.IsValid() {
		a = e.bindAddr
	}
	if !a.IsValid() && e.v4only {
		a = netip.IPv4Unspecified()
	}
	if a.IsValid() {
		a = mapped(e.netProto, a)
	}
	return tcpip.FullAddress{NIC: e.bindNIC, Addr: a, Port: e.id.LocalPort}, nil
}

// RemoteAddress implements tcpip.Endpoint.
func (e *endpoint) RemoteAddress() (tcpip.FullAddress, error) {
	e.lock()
	defer e.unlock()
	if !e.state.synchronized() && e.state != StateSynSent && e.state != StateSynReceived && !e.everConn {
		return tcpip.FullAddress{}, tcpip.ErrNotConnected
	}
	return tcpip.FullAddress{NIC: e.nic, Addr: mapped(e.netProto, e.id.RemoteAddress), Port: e.id.RemotePort}, nil
}

// LastError implements tcpip.Endpoint.
func (e *endpoint) LastError() error {
	e.lock()
	defer e.unlock()
	if !e.errPending {
		return nil
	}
	e.errPending = false
	return e.hardErr
}

func (e *endpoint) deviceLocked() tcpip.NICID {
	if e.bindToDevice != 0 {
		return e.bindToDevice
	}
	return e.bindNIC
}

// Bind implements tcpip.Endpoint.
func (e *endpoint) Bind(addr tcpip.FullAddress) error {
	e.lock()
	defer e.unlock()
	if e.state != StateClosed || e.userClosed || e.everConn {
		return tcpip.ErrInvalidEndpointState
	}
	if e.bound {
		return tcpip.ErrAlreadyBound
	}
	a, err := e.normalizeAddr(addr.Addr)
	if err != nil {
		return err
	}
	if addr.NIC != 0 && !e.s.HasNIC(addr.NIC) {
		return tcpip.ErrUnknownDevice
	}
	device := e.bindToDevice
	if device == 0 {
		device = addr.NIC
	}
	if a.IsValid() && e.s.CheckLocalAddress(device, tcpip.NetworkProtocolFor(a), a) == 0 {
		return tcpip.ErrBadLocalAddress
	}
	e.v4only = e.netProto == tcpip.IPv6ProtocolNumber && mappedAny(addr.Addr)
	flags := stack.PortFlags{ReuseAddress: e.reuseAddr, LoadBalanced: e.reusePort}
	port, err := e.s.PortManager().ReservePort(e.netProtos(), ProtocolNumber, a, addr.Port, flags, device, netip.AddrPort{}, nil)
	if err != nil {
		e.v4only = false
		return err
	}
	e.bound = true
	e.userBound = true
	e.res = reservation{netProtos: e.netProtoSet(), addr: a, port: port, flags: flags, device: device}
	e.bindAddr, e.bindNIC = a, addr.NIC
	e.id.LocalPort = port
	e.id.LocalAddress = a
	return nil
}

// releasePortLocked gives the port reservation back.
func (e *endpoint) releasePortLocked() {
	if !e.bound {
		return
	}
	r := &e.res
	e.s.PortManager().ReleasePort(r.netProtos.slice(), ProtocolNumber, r.addr, r.port, r.flags, r.device, r.dest)
	e.bound = false
	e.userBound = false
	e.res = reservation{}
}

// unregisterLocked removes the demultiplexer entry.
func (e *endpoint) unregisterLocked() {
	if !e.registered {
		return
	}
	e.s.UnregisterTransportEndpoint(e.netProtos(), ProtocolNumber, e.id, e, e.regFlags, e.deviceLocked())
	e.registered = false
}

// Listen implements tcpip.Endpoint. The backlog bounds the accept queue
// (Linux: at least 1, at most somaxconn 4096). A second listener on the
// same address and port is refused even with ReuseAddressOption, as in
// Linux, by registering listeners without ReuseAddress.
func (e *endpoint) Listen(backlog int) error {
	e.lock()
	defer e.unlock()
	backlog = min(max(backlog, 1), 4096)
	if e.state == StateListen {
		e.l.backlog = backlog
		return nil
	}
	if e.state != StateClosed || e.userClosed || e.everConn {
		return tcpip.ErrInvalidEndpointState
	}
	undo, err := e.reserveListenLocked()
	if err != nil {
		return err
	}
	// A listener shut down for reading is still registered: register
	// it afresh (Linux lets such a socket listen again).
	e.unregisterLocked()
	e.regFlags = stack.PortFlags{LoadBalanced: e.reusePort}
	if err := e.s.RegisterTransportEndpoint(e.netProtos(), ProtocolNumber, e.id, e, e.regFlags, e.deviceLocked()); err != nil {
		undo()
		return err
	}
	e.registered = true
	e.p.mu.Lock()
	synMax := e.p.synQueue
	cookies := e.p.cookies
	e.p.mu.Unlock()
	e.l = &listener{backlog: backlog, synMax: synMax, cookies: cookies, synQ: make(map[stack.TransportEndpointID]*synEntry)}
	e.setStateLocked(StateListen)
	e.isListener.Store(true)
	return nil
}

// Shutdown implements tcpip.Endpoint. ShutdownWrite queues a FIN after the
// data (a half-close, RFC 9293 §3.6); ShutdownRead makes Read report the
// end of the stream once the data queued is read (data arriving later is
// discarded as Linux does).
func (e *endpoint) Shutdown(how tcpip.ShutdownFlags) error {
	e.lock()
	defer e.unlock()
	switch e.state {
	case StateListen:
		if how&tcpip.ShutdownRead != 0 {
			e.closeListenerLocked()
			e.setStateLocked(StateClosed)
			e.notifyLocked(tcpip.EventIn | tcpip.EventHUp)
		}
		return nil
	case StateClosed, StateSynSent:
		if e.state == StateSynSent {
			e.resetLocked(tcpip.ErrConnectionAborted, false)
			return nil
		}
		return tcpip.ErrNotConnected
	}
	e.shutdown |= how
	if how&tcpip.ShutdownRead != 0 {
		e.notifyLocked(tcpip.EventIn)
	}
	if how&tcpip.ShutdownWrite != 0 {
		e.closeSendLocked()
	}
	return nil
}

// closeSendLocked queues our FIN (RFC 9293 §3.10.4 CLOSE call).
func (e *endpoint) closeSendLocked() {
	if e.finQueued {
		return
	}
	switch e.state {
	case StateSynReceived, StateEstablished:
		e.finQueued = true
		e.setStateLocked(StateFinWait1)
	case StateCloseWait:
		e.finQueued = true
		e.setStateLocked(StateLastAck)
	default:
		return
	}
	e.sendDataLocked()
}

// Close implements tcpip.Endpoint. A connection with unread data, or with
// LingerOption{Enabled: true, Timeout: 0}, is reset (RFC 9293 §3.10.4;
// RFC 2525 §2.17, as Linux); otherwise a FIN is queued and the connection
// finishes in the background (FIN-WAIT, TIME-WAIT) without its user.
//
// Close never blocks (the tcpip.Endpoint contract). With a linger timeout
// above 0 the queued data and the FIN are still sent in the background,
// and if the connection has not reached CLOSED or TIME-WAIT when the
// timeout expires (a timer on the stack's Clock), it is reset and counted
// in TCPStats.AbortOnLinger. Linux resets at the timeout only when
// close(2) blocks; a non-blocking ustack Close cannot block, so it keeps
// the one promise SO_LINGER makes that does not need blocking: the
// connection does not outlive the timeout with unacknowledged data.
func (e *endpoint) Close() {
	e.lock()
	defer e.unlock()
	if e.userClosed {
		return
	}
	e.userClosed = true
	e.shutdown = tcpip.ShutdownRead | tcpip.ShutdownWrite
	switch e.state {
	case StateListen:
		e.closeListenerLocked()
		e.cleanupLocked()
	case StateClosed, StateSynSent:
		e.cleanupLocked()
	case StateTimeWait:
		// Finishes on its own.
	default:
		if e.rcvBuf.Len() > 0 || (e.linger.Enabled && e.linger.Timeout == 0) {
			e.resetLocked(nil, true)
			return
		}
		e.closeSendLocked()
		if e.linger.Enabled && e.linger.Timeout > 0 {
			e.lingerAt = e.nowLocked().Add(e.linger.Timeout)
			e.armLocked()
		}
		if e.state == StateFinWait2 && e.closeAt.IsZero() {
			// Already half-closed: the orphan waits for the peer's
			// FIN only so long (Linux's tcp_fin_timeout).
			e.closeAt = e.nowLocked().Add(finWait2Timeout)
			e.armLocked()
		}
	}
	e.notifyLocked(tcpip.EventHUp | tcpip.EventIn | tcpip.EventOut)
}

// Abort implements stack.TransportEndpoint: the stack is closing.
func (e *endpoint) Abort() {
	e.lock()
	defer e.unlock()
	if e.state == StateListen {
		e.closeListenerLocked()
	}
	e.setErrLocked(tcpip.ErrConnectionAborted)
	e.cleanupLocked()
	e.rcvBuf.Release()
	e.releasePortLocked()
	e.notifyLocked(tcpip.EventsAll)
}

// setErrLocked records err as the connection's final error.
func (e *endpoint) setErrLocked(err error) {
	if err == nil || e.hardErr != nil {
		return
	}
	if e.state != StateClosed {
		e.hardErr = err
		e.errPending = true
	}
}

// resetLocked ends the connection: an RST is sent if sendRST, err is
// recorded for the user, and everything is freed (RFC 9293 §3.10.7.4,
// "reset").
func (e *endpoint) resetLocked(err error, sendRST bool) {
	if sendRST && e.state != StateClosed && e.state != StateListen && e.state != StateTimeWait {
		e.sendSegmentLocked(e.sndNxt, e.rcvNxt, header.TCPFlagRST|header.TCPFlagACK, 0, 0, false)
	}
	e.setErrLocked(err)
	e.cleanupLocked()
	e.notifyLocked(tcpip.EventIn | tcpip.EventOut | tcpip.EventHUp | tcpip.EventErr)
}

// cleanupLocked moves to CLOSED and frees everything: timer, buffers,
// registration and port. The port of an explicitly bound endpoint whose
// connection attempt failed stays reserved while its user holds it, so
// that Connect may be retried from it (Linux keeps a port bound with
// SOCK_BINDPORT_LOCK; an automatically chosen one is released).
func (e *endpoint) cleanupLocked() {
	e.endRTOBackoffLocked(e.nowLocked())
	e.setStateLocked(StateClosed)
	e.stopTimersLocked()
	e.unregisterLocked()
	if !e.userBound || e.userClosed || e.everConn {
		auto := !e.userBound
		e.releasePortLocked()
		if auto && !e.everConn {
			// As Linux's inet_put_port: the port is no longer
			// ours, and LocalAddress says so.
			e.id.LocalPort = 0
		}
	}
	e.sndBuf.Release()
	if e.userClosed || e.hardErr != nil || !e.rcvFin {
		// Unread data of a stream that ended in order (the peer's
		// FIN taken, no reset) stays readable until Close, as in
		// Linux, whose receive queue outlives TCP_CLOSE: releasing
		// it cut the tail off a stream whose reader had not caught
		// up when the connection completed (LAST-ACK acknowledged,
		// TIME-WAIT over, or an RST in TIME-WAIT).
		e.rcvBuf.Release()
	}
	if e.endpointRecovery != nil {
		for i := range e.ooo {
			e.ooo[i].data.Release()
		}
		e.ooo, e.oooBytes = nil, 0
		e.sacked = nil
		e.rack = rackState{}
		e.undoRxt = nil
	}
	e.finQueued = false
	e.route = nil
}

// setStateLocked moves to state s, keeping the gauges: CurrentEstablished
// counts ESTABLISHED and CLOSE-WAIT (RFC 4022's tcpCurrEstab), and
// CurrentConnected every state from ESTABLISHED to TIME-WAIT.
func (e *endpoint) setStateLocked(s State) {
	old := e.state
	if old == s {
		return
	}
	est := func(x State) bool { return x == StateEstablished || x == StateCloseWait }
	conn := func(x State) bool { return x.synchronized() }
	if est(old) && !est(s) {
		e.p.stats.CurrentEstablished.Dec()
	} else if !est(old) && est(s) {
		e.p.stats.CurrentEstablished.Inc()
	}
	if conn(old) && !conn(s) {
		e.p.stats.CurrentConnected.Dec()
	} else if !conn(old) && conn(s) {
		e.p.stats.CurrentConnected.Inc()
	}
	e.state = s
}

// Read implements tcpip.Endpoint.
func (e *endpoint) Read(p []byte, opts tcpip.ReadOptions) (tcpip.ReadResult, error) {
	e.lock()
	defer e.unlock()
	if e.state == StateListen {
		return tcpip.ReadResult{}, tcpip.ErrInvalidEndpointState
	}
	if e.rcvBuf.Len() == 0 {
		switch {
		case e.rcvFin || e.shutdown&tcpip.ShutdownRead != 0:
			return tcpip.ReadResult{}, tcpip.ErrClosedForReceive
		case e.hardErr != nil:
			err := e.hardErr
			if e.errPending {
				e.errPending = false
				return tcpip.ReadResult{}, err
			}
			return tcpip.ReadResult{}, tcpip.ErrClosedForReceive
		case e.state == StateClosed && !e.everConn:
			return tcpip.ReadResult{}, tcpip.ErrNotConnected
		case e.state == StateClosed:
			return tcpip.ReadResult{}, tcpip.ErrClosedForReceive
		}
		return tcpip.ReadResult{}, tcpip.ErrWouldBlock
	}
	n := e.rcvBuf.CopyTo(p)
	res := tcpip.ReadResult{N: n, Total: n}
	if opts.NeedRemoteAddr {
		res.RemoteAddr = tcpip.FullAddress{NIC: e.nic, Addr: mapped(e.netProto, e.id.RemoteAddress), Port: e.id.RemotePort}
	}
	if opts.Peek {
		return res, nil
	}
	e.rcvBuf.TrimFront(n)
	if e.rcvBuf.Len() == 0 {
		e.rcvBuf.Release()
	}
	e.stats.BytesReceived.Add(uint64(n))
	if e.state.synchronized() {
		e.rcvSpaceAdjustLocked()
	}
	// RFC 1122 §4.2.3.3: a window update once the window opened by at
	// least min(buffer/2, MSS) since the last advertisement.
	// Not once the peer's FIN is in: nothing more will come, and a
	// peer already closed answers the update with an RST (Linux's
	// tcp_cleanup_rbuf sends none after RCV_SHUTDOWN either).
	if e.state.synchronized() && !e.rcvFin && e.windowUpdateDueLocked() {
		e.sendACKLocked()
	}
	return res, nil
}

// Write implements tcpip.Endpoint: it queues as much of p as the send
// buffer holds and returns how much; ErrWouldBlock if none fits.
func (e *endpoint) Write(p []byte, opts tcpip.WriteOptions) (int, error) {
	e.lock()
	defer e.unlock()
	if e.errPending && e.hardErr != nil {
		e.errPending = false
		return 0, e.hardErr
	}
	switch e.state {
	case StateSynSent, StateSynReceived:
		return 0, tcpip.ErrWouldBlock
	case StateEstablished, StateCloseWait:
	case StateClosed, StateListen:
		if e.everConn || e.hardErr != nil {
			return 0, tcpip.ErrClosedForSend
		}
		return 0, tcpip.ErrNotConnected
	default:
		return 0, tcpip.ErrClosedForSend
	}
	if e.shutdown&tcpip.ShutdownWrite != 0 || e.finQueued {
		return 0, tcpip.ErrClosedForSend
	}
	room := e.sndBufSize - e.sndBuf.Len()
	if room <= 0 {
		return 0, tcpip.ErrWouldBlock
	}
	n := min(room, len(p))
	if opts.Atomic && n < len(p) {
		return 0, tcpip.ErrWouldBlock
	}
	e.sndBuf.Append(p[:n])
	e.stats.BytesSent.Add(uint64(n))
	if !opts.More {
		e.sendDataLocked()
	}
	return n, nil
}

// Accept implements tcpip.Endpoint.
func (e *endpoint) Accept() (tcpip.Endpoint, tcpip.FullAddress, error) {
	e.lock()
	defer e.unlock()
	if e.state != StateListen {
		return nil, tcpip.FullAddress{}, tcpip.ErrInvalidEndpointState
	}
	if len(e.l.acceptQ) == 0 {
		return nil, tcpip.FullAddress{}, tcpip.ErrWouldBlock
	}
	c := e.l.acceptQ[0]
	copy(e.l.acceptQ, e.l.acceptQ[1:])
	e.l.acceptQ[len(e.l.acceptQ)-1] = nil
	e.l.acceptQ = e.l.acceptQ[:len(e.l.acceptQ)-1]
	c.mu.Lock()
	c.connectSeen = true
	addr := tcpip.FullAddress{NIC: c.nic, Addr: mapped(c.netProto, c.id.RemoteAddress), Port: c.id.RemotePort}
	c.unlock()
	return c, addr, nil
}

// HandleError implements stack.TransportEndpoint: an ICMP error about a
// segment we sent (see handleErrorLocked).
func (e *endpoint) HandleError(terr stack.TransportError, orig *buffer.Packet) {
	var seq seqnum.Value
	ok := false
	if b, got := orig.Peek(8); got {
		seq = header.TCP(b[:8:8]).SequenceNumber()
		ok = true
	}
	orig.Release()
	e.lock()
	defer e.unlock()
	e.handleErrorLocked(terr, seq, ok)
}
