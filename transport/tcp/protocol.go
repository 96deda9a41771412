// Package tcp implements TCP (RFC 9293) for ustack: a transport protocol
// for stack.New (tcp.NewProtocol) and its endpoints, which behave as
// Linux's non-blocking SOCK_STREAM sockets.
//
// # Processing model
//
// No goroutine runs per connection. An inbound segment is processed to
// completion on the goroutine that delivers it, under the endpoint's mutex;
// when a user call holds that mutex, the segment goes to the endpoint's
// backlog and the lock holder processes it before it unlocks. Waiters are
// notified after the mutex is released. Each endpoint has at most one
// timer, through the stack's Clock, multiplexing its retransmission,
// persist, delayed-ACK, keepalive, SYN-ACK and TIME-WAIT (or orphaned
// FIN-WAIT-2) deadlines. Send and receive buffers are pooled chunks held
// only while they hold data; the retransmission queue is the send buffer
// itself, segments being clones of its bytes. Once warm, an established
// connection allocates nothing per segment.
//
// # Endpoints
//
// Stack.NewEndpoint(tcp.ProtocolNumber, netProto) returns a tcpip.Endpoint
// in StateClosed. Listen/Accept and Connect follow Linux: Connect returns
// tcpip.ErrConnectStarted and EventOut tells when the handshake ended; the
// next Connect returns nil or the error (ErrConnectionRefused after an RST
// or ICMP port unreachable, ErrTimeout after 6 SYN retries); once a
// failure was reported, Connect may start a new attempt (Linux). Read and
// Write never block. Close never blocks either: a connection closed with
// unread data, or with LingerOption{Enabled: true, Timeout: 0}, is reset;
// otherwise its FIN is queued and the connection finishes without its
// user. GetSockOpt(*tcp.InfoOption) returns a TCP_INFO-like Info.
//
// Socket options: DelayOption (Nagle, on by default; false is
// TCP_NODELAY), CorkOption, QuickAckOption (one-shot as Linux's
// TCP_QUICKACK: it enters quick-ACK mode for the next 64 segments; reading
// it tells whether the mode is still on), MaxSegOption, KeepAliveOption,
// KeepaliveIdleOption/IntervalOption/CountOption (Linux's 2 h/75 s/9),
// UserTimeoutOption (RFC 5482), SendBufferSizeOption and
// ReceiveBufferSizeOption (within [MinBufferSize, MaxBufferSize]; setting
// one fixes that buffer's size and turns its autotuning off, as Linux's
// SO_SNDBUF/SO_RCVBUF), ReceiveQueueSizeOption,
// SendQueueSizeOption, CongestionControlOption, LingerOption,
// ReuseAddressOption, ReusePortOption, BindToDeviceOption, TTLOption,
// TOSOption (its DSCP bits: TCP sets the ECN field), ECNOption. Protocol options (Stack.SetTransportProtocolOption):
// SYNQueueSizeOption, SYNCookiesOption, MSLOption, MaxHalfOpenOption,
// SACKEnabledOption, ECNOption, ModerateReceiveBufferOption, the buffer ranges
// tcpip.TCPReceiveBufferSizeRangeOption and TCPSendBufferSizeRangeOption
// (Linux's tcp_rmem and tcp_wmem), and the stack-wide defaults of new
// endpoints given as tcpip.CongestionControlOption,
// tcpip.SendBufferSizeOption and tcpip.ReceiveBufferSizeOption (the
// ranges' Default).
//
// # Buffers
//
// Buffers autotune (autotune.go): a connection starts with 128 KiB each
// way and grows its receive buffer to twice what the application reads
// per round trip, its send buffer to twice the congestion window, up to
// 32 MiB each by default, enough for 1 Gbit/s over 100 ms; memory is
// taken only while data is queued, so idle connections cost nothing for
// it. The window scale is chosen from the maximum.
//
// # Dual stack
//
// An IPv6 endpoint is dual-stack unless V6OnlyOption is set before it has
// a port (Linux's default, bindv6only = 0): bound to the wildcard it
// reserves its port in both families and its listener accepts IPv4
// connections; Connect to an IPv4-mapped address (RFC 4291 §2.5.5.2)
// makes an IPv4 connection; addresses of IPv4 peers are reported
// IPv4-mapped. See dualstack.go for the rules.
//
// # Choices where the RFCs leave one
//
//   - ISNs: RFC 6528, a 4 µs clock plus SHA-256 of the 4-tuple keyed by
//     the stack's seed and random source.
//   - RTO: RFC 6298 with Linux's 200 ms minimum and 120 s maximum; every
//     ACK of new data that echoes a timestamp gives a sample (RFC 7323
//     §4), otherwise one segment at a time is timed (Karn).
//   - Window scale: the smallest shift that lets the largest receive
//     buffer autotuning may reach be advertised; receiver SWS avoidance as
//     RFC 1122 §4.2.3.3; the window never shrinks.
//   - Delayed ACKs: 40 ms, every second segment, 16 quick ACKs at the
//     start, out-of-order data and hole fills acknowledged at once.
//   - Zero-window and keepalive probes carry SND.UNA−1 / SND.NXT−1 and no
//     data, as Linux.
//   - Listeners keep half-open connections as small entries (at most
//     SYNQueueSizeOption, 128 by default), retransmit SYN-ACKs 5 times
//     from 1 s with backoff, drop SYNs while the accept queue is full and
//     keep the entry when the completing ACK finds it full (Linux).
//   - SYN cookies (RFC 4987 §3.6) when the SYN queue is full; with
//     timestamps the peer's window scale and SACK-permitted ride in the
//     TSval as Linux does.
//   - RFC 5961 challenge ACKs, at most 1000 per second per stack; RSTs to
//     closed ports are not rate-limited (Linux).
//   - An RST in TIME-WAIT ends it (Linux's default, not RFC 1337); a SYN
//     with a newer timestamp or higher sequence number reuses it (RFC
//     6191).
//   - An orphaned connection waits 60 s at most in FIN-WAIT-2; data
//     arriving after Close resets the connection (Linux).
//   - Congestion control: CUBIC by default (RFC 9438, as Linux), or
//     NewReno (RFC 5681, RFC 6582); both with RFC 3042 limited transmit,
//     RFC 6928's initial window of 10 segments, byte counting with L = 1
//     and HyStart++ of RFC 9406 in the initial slow start, behind the
//     CongestionControl interface; RegisterCongestionControl adds
//     others.
//   - Loss recovery with SACK: RFC 6675 (pipe, NextSeg, rescue
//     retransmission; sack.go) on per-segment transmit records, with
//     RACK-TLP loss detection (RFC 8985: time-based marks with a
//     reordering window adapted by D-SACK, the reordering timer, tail
//     loss probes; rack.go, tlp.go) beside the DupThresh rule until
//     reordering is seen, and proportional rate reduction (RFC 6937,
//     PRR-SSRB, prr.go) setting the window during recovery. D-SACKs (RFC
//     2883) are sent and received. Without SACK, RFC 6582 NewReno.
//   - ECN (RFC 3168, ecn.go): ECNOption, by default accepted when a
//     SYN asks for it and not asked for (Linux's tcp_ecn=2); new data is
//     sent ECT(0); ECE halves the window at most once per window of data.
//   - Spurious retransmissions (undo.go): a fast recovery whose
//     retransmissions were all D-SACKed (RFC 3708) or whose first ACK
//     echoes the original's timestamp (Eifel, RFC 3522) is undone, CUBIC
//     included (RFC 9438 §4.9); a spurious timeout is found by Eifel or,
//     without timestamps, F-RTO (RFC 5682, frto.go) and answered as RFC
//     4015 §3 says (no go-back-N; ssthresh restored, cwnd at most
//     FlightSize + IW).
//
// # Not implemented
//
// After a spurious timeout the RTT estimator keeps its state (RFC 4015 §3
// would adapt the RTO); no DupThresh adaptation. No Accurate ECN feedback
// (AccECN) nor ECN on SYNs, urgent data,
// TCP Fast Open, MD5/AO; a linger timeout other than 0 is not waited
// for by Close but bounds the background close (see endpoint Close);
// WriteOptions.More holds data only until the next Write without it.
package tcp

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
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

// ProtocolNumber is TCP's IP protocol number.
const ProtocolNumber = tcpip.TCPProtocolNumber

// Buffer size limits of SendBufferSizeOption, ReceiveBufferSizeOption and
// the range options (the defaults are in autotune.go). MaxBufferSize is
// 2^30, the largest window a window scale of 14 can advertise (RFC 7323
// §2.3). Memory is only used while data is queued.
const (
	MinBufferSize = 4096
	MaxBufferSize = 1 << 30
)

// Protocol constants.
const (
	// DefaultMSL is the maximum segment lifetime; TIME-WAIT lasts
	// 2·MSL (RFC 9293 §3.4.2). 30 s gives Linux's 60 s TIME-WAIT.
	DefaultMSL = 30 * time.Second
	// defaultMSSv4 and defaultMSSv6 are the send MSS assumed when the
	// peer sends no MSS option (RFC 9293 §3.7.1, RFC 8200 §8.3: 536 and
	// 1220).
	defaultMSSv4 = 536
	defaultMSSv6 = 1220
	// minMSSv4 is the smallest MSS used over IPv4 whatever the peer or
	// the path says (RFC 9293 §3.7.1 / RFC 1122: 576-byte datagrams).
	minMSSv4 = 536
	minMSSv6 = 1220
	// synRetries is Linux's tcp_syn_retries: SYNs retransmitted before
	// Connect fails with ErrTimeout.
	synRetries = 6
	// synAckRetries is Linux's tcp_synack_retries.
	synAckRetries = 5
	// DefaultSYNQueueSize bounds the half-open connections of one
	// listener (Linux's tcp_max_syn_backlog is 128 on small hosts).
	DefaultSYNQueueSize = 128
	// maxRetries is Linux's tcp_retries2: retransmissions of one segment
	// before the connection is given up (ErrTimeout).
	maxRetries = 15
	// challengeACKLimit is RFC 5961 §7's rate limit, per second per
	// stack (Linux's tcp_challenge_ack_limit, 1000 before 6.0).
	challengeACKLimit = 1000
	// finWait2Timeout is how long an orphaned connection waits in
	// FIN-WAIT-2 (Linux's tcp_fin_timeout).
	finWait2Timeout = 60 * time.Second
)

// Protocol options (stack.SetTransportProtocolOption).
type (
	// SYNQueueSizeOption bounds the half-open connections of each
	// listener created afterwards (DefaultSYNQueueSize).
	SYNQueueSizeOption int
	// SYNCookiesOption enables SYN cookies when a SYN queue is full
	// (default true, as Linux's tcp_syncookies=1).
	SYNCookiesOption bool
	// MSLOption sets the maximum segment lifetime (DefaultMSL).
	MSLOption time.Duration
	// SACKEnabledOption turns SACK (RFC 2018) on or off for the stack:
	// when off, SYNs do not offer SACK-permitted, a peer's offer is
	// ignored, and received SACK blocks are not used. On by default.
	SACKEnabledOption bool
	// MaxHalfOpenOption bounds the half-open connections of all the
	// stack's listeners together (DefaultMaxHalfOpen); beyond it SYNs
	// get cookies (or are dropped without them), DESIGN.md principle 6.
	MaxHalfOpenOption int
)

// DefaultMaxHalfOpen is the default of MaxHalfOpenOption (Linux's
// tcp_max_syn_backlog on larger hosts).
const DefaultMaxHalfOpen = 4096

var errMalformedHeader = errors.New("tcp: header too short")

// protocol is TCP on one stack.
type protocol struct {
	s     *stack.Stack
	stats *tcpip.TCPStats
	key   [32]byte // secret of ISNs and SYN cookies (RFC 6528 §3)

	halfOpen    atomic.Int64 // half-open entries of all listeners
	maxHalfOpen atomic.Int64

	// sack is SACKEnabledOption: read on every segment, so atomic.
	sack atomic.Bool
	// ecn is the ECNOption of new endpoints.
	ecn atomic.Int32
	// moderate is ModerateReceiveBufferOption; rcvMax and sndMax are
	// the Max of the buffer ranges (rcvRange, sndRange), read by
	// autotuning without mu.
	moderate atomic.Bool
	rcvMax   atomic.Int64
	sndMax   atomic.Int64

	mu        sync.Mutex
	synQueue  int           // guarded by mu
	cookies   bool          // guarded by mu
	msl       time.Duration // guarded by mu
	defaultCC string        // guarded by mu: CongestionControlOption of new endpoints
	// defaultOpts (guarded by mu) is the endpointOpts new endpoints
	// share: replaced, never modified, when defaultCC changes.
	defaultOpts *endpointOpts
	sndRange    bufRange // guarded by mu: TCPSendBufferSizeRangeOption
	rcvRange    bufRange // guarded by mu: TCPReceiveBufferSizeRangeOption
	chalSecond  int64    // guarded by mu: the second chalCount counts
	chalCount   int      // guarded by mu
}

var _ stack.TransportProtocol = (*protocol)(nil)

// NewProtocol returns TCP for a stack; it is a
// stack.TransportProtocolFactory for stack.Options.TransportProtocols.
func NewProtocol(s *stack.Stack) stack.TransportProtocol {
	// CUBIC (RFC 9438) with HyStart++ (RFC 9406) is the default, as
	// in Linux: on long fat paths NewReno's one segment per round trip
	// takes minutes to regrow a window of thousands of segments.
	p := &protocol{s: s, stats: &s.Stats().TCP, synQueue: DefaultSYNQueueSize, cookies: true, msl: DefaultMSL,
		defaultCC: "cubic",
		sndRange:  bufRange{MinBufferSize, DefaultSendBufferSize, DefaultMaxSendBufferSize},
		rcvRange:  bufRange{MinBufferSize, DefaultReceiveBufferSize, DefaultMaxReceiveBufferSize}}
	p.defaultOpts = newEndpointOpts(p.defaultCC)
	p.maxHalfOpen.Store(DefaultMaxHalfOpen)
	p.sack.Store(true)
	p.ecn.Store(int32(ECNPassive))
	p.moderate.Store(true)
	p.storeMaxLocked()
	// RFC 6528 §3: the secret key should be random; the stack's seed
	// and random source make it so while staying reproducible under a
	// seeded simulation.
	var in [16]byte
	binary.BigEndian.PutUint32(in[0:], s.Seed())
	binary.BigEndian.PutUint64(in[4:], s.RandUint64())
	p.key = sha256.Sum256(in[:])
	return p
}

// Number implements stack.TransportProtocol.
func (p *protocol) Number() tcpip.TransportProtocolNumber { return ProtocolNumber }

// NewEndpoint implements stack.TransportProtocol.
func (p *protocol) NewEndpoint(netProto tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	if netProto != tcpip.IPv4ProtocolNumber && netProto != tcpip.IPv6ProtocolNumber {
		return nil, tcpip.ErrUnknownProtocol
	}
	return newEndpoint(p, netProto), nil
}

// MinimumPacketSize implements stack.TransportProtocol.
func (p *protocol) MinimumPacketSize() int { return header.TCPMinimumSize }

// ParsePorts implements stack.TransportProtocol.
func (p *protocol) ParsePorts(hdr []byte) (src, dst uint16, err error) {
	if len(hdr) < header.TCPMinimumSize {
		p.stats.Malformed.Inc()
		return 0, 0, errMalformedHeader
	}
	t := header.TCP(hdr)
	return t.SourcePort(), t.DestinationPort(), nil
}

// SetOption implements stack.TransportProtocol.
func (p *protocol) SetOption(opt any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch v := opt.(type) {
	case SYNQueueSizeOption:
		if v < 1 {
			return tcpip.ErrInvalidOptionValue
		}
		p.synQueue = int(v)
	case SYNCookiesOption:
		p.cookies = bool(v)
	case MSLOption:
		if v <= 0 {
			return tcpip.ErrInvalidOptionValue
		}
		p.msl = time.Duration(v)
	case MaxHalfOpenOption:
		if v < 1 {
			return tcpip.ErrInvalidOptionValue
		}
		p.maxHalfOpen.Store(int64(v))
	case SACKEnabledOption:
		p.sack.Store(bool(v))
	case ECNOption:
		if !v.valid() {
			return tcpip.ErrInvalidOptionValue
		}
		p.ecn.Store(int32(v))
	case tcpip.CongestionControlOption:
		if _, ok := lookupCC(string(v)); !ok {
			return tcpip.ErrInvalidOptionValue
		}
		p.defaultCC = string(v)
		p.defaultOpts = newEndpointOpts(p.defaultCC)
	case tcpip.SendBufferSizeOption:
		p.sndRange.setDefault(int(v))
	case tcpip.ReceiveBufferSizeOption:
		p.rcvRange.setDefault(int(v))
	case tcpip.TCPSendBufferSizeRangeOption:
		if err := p.sndRange.set(v.Min, v.Default, v.Max); err != nil {
			return err
		}
	case tcpip.TCPReceiveBufferSizeRangeOption:
		if err := p.rcvRange.set(v.Min, v.Default, v.Max); err != nil {
			return err
		}
	case ModerateReceiveBufferOption:
		p.moderate.Store(bool(v))
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	p.storeMaxLocked()
	return nil
}

// storeMaxLocked publishes the ranges' maxima to autotuning.
func (p *protocol) storeMaxLocked() {
	p.rcvMax.Store(int64(p.rcvRange.max))
	p.sndMax.Store(int64(p.sndRange.max))
}

// Option implements stack.TransportProtocol.
func (p *protocol) Option(opt any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch v := opt.(type) {
	case *SYNQueueSizeOption:
		*v = SYNQueueSizeOption(p.synQueue)
	case *SYNCookiesOption:
		*v = SYNCookiesOption(p.cookies)
	case *MSLOption:
		*v = MSLOption(p.msl)
	case *MaxHalfOpenOption:
		*v = MaxHalfOpenOption(p.maxHalfOpen.Load())
	case *SACKEnabledOption:
		*v = SACKEnabledOption(p.sack.Load())
	case *ECNOption:
		*v = ECNOption(p.ecn.Load())
	case *tcpip.CongestionControlOption:
		*v = tcpip.CongestionControlOption(p.defaultCC)
	case *tcpip.SendBufferSizeOption:
		*v = tcpip.SendBufferSizeOption(p.sndRange.def)
	case *tcpip.ReceiveBufferSizeOption:
		*v = tcpip.ReceiveBufferSizeOption(p.rcvRange.def)
	case *tcpip.TCPSendBufferSizeRangeOption:
		*v = tcpip.TCPSendBufferSizeRangeOption{Min: p.sndRange.min, Default: p.sndRange.def, Max: p.sndRange.max}
	case *tcpip.TCPReceiveBufferSizeRangeOption:
		*v = tcpip.TCPReceiveBufferSizeRangeOption{Min: p.rcvRange.min, Default: p.rcvRange.def, Max: p.rcvRange.max}
	case *ModerateReceiveBufferOption:
		*v = ModerateReceiveBufferOption(p.moderate.Load())
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// Close implements stack.TransportProtocol: TCP holds nothing beyond its
// endpoints.
func (p *protocol) Close() {}

func (p *protocol) getMSL() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msl
}

// allowChallengeACK applies RFC 5961 §7's rate limit to challenge ACKs.
func (p *protocol) allowChallengeACK() bool {
	sec := p.s.Clock().NowMonotonic().Nanoseconds() / int64(time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	if sec != p.chalSecond {
		p.chalSecond, p.chalCount = sec, 0
	}
	if p.chalCount >= challengeACKLimit {
		p.stats.ChallengeACKsLimited.Inc()
		return false
	}
	p.chalCount++
	p.stats.ChallengeACKsSent.Inc()
	return true
}

// hash4 is the keyed hash of a 4-tuple and extra of RFC 6528 §3 (F) and
// of SYN cookies (RFC 4987 §3.6): SHA-256 over the key and the inputs.
func (p *protocol) hash4(id stack.TransportEndpointID, extra, extra2 uint32) uint32 {
	var in [32 + 16 + 16 + 4 + 4 + 4]byte
	copy(in[:32], p.key[:])
	l, r := id.LocalAddress.As16(), id.RemoteAddress.As16()
	copy(in[32:], l[:])
	copy(in[48:], r[:])
	binary.BigEndian.PutUint16(in[64:], id.LocalPort)
	binary.BigEndian.PutUint16(in[66:], id.RemotePort)
	binary.BigEndian.PutUint32(in[68:], extra)
	binary.BigEndian.PutUint32(in[72:], extra2)
	h := sha256.Sum256(in[:])
	return binary.BigEndian.Uint32(h[:4])
}

// newISN returns an initial sequence number for id: RFC 6528 §3,
// ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a
// timer ticking every 4 µs.
func (p *protocol) newISN(id stack.TransportEndpointID) seqnum.Value {
	m := uint32(p.s.Clock().NowMonotonic().Nanoseconds() / 4000)
	return seqnum.Value(m + p.hash4(id, 0, 0))
}

// segment is an inbound segment, parsed and validated. pkt's Payload is
// the segment's data; the segment owns pkt.
type segment struct {
	id      stack.TransportEndpointID // from the receiver's point of view
	nic     tcpip.NICID
	seq     seqnum.Value
	ack     seqnum.Value
	flags   header.TCPFlags
	wnd     uint16
	opts    header.TCPOptions
	pkt     *buffer.Packet
	dataLen int
	ecn     uint8 // the ECN field of the IP header (RFC 3168 §5)
}

// logicalLen is SEG.LEN: the data plus one for SYN and for FIN.
func (g *segment) logicalLen() seqnum.Size {
	n := seqnum.Size(g.dataLen)
	if g.flags&header.TCPFlagSYN != 0 {
		n++
	}
	if g.flags&header.TCPFlagFIN != 0 {
		n++
	}
	return n
}

func (g *segment) has(f header.TCPFlags) bool { return g.flags&f != 0 }

// release frees the segment's packet.
func (g *segment) release() {
	if g.pkt != nil {
		g.pkt.Release()
		g.pkt = nil
	}
}

// parse validates the segment at the front of pkt's payload (RFC 9293
// §3.1: header length, checksum over the pseudo-header) and decodes it.
// Drops are counted. On success pkt's payload holds the data only.
func (p *protocol) parse(id stack.TransportEndpointID, info stack.NetworkPacketInfo, pkt *buffer.Packet, es *tcpip.EndpointStats) (segment, bool) {
	fixed, ok := pkt.Peek(header.TCPMinimumSize)
	if !ok {
		p.stats.Malformed.Inc()
		countEP(es, func(s *tcpip.EndpointStats) { s.MalformedPackets.Inc() })
		return segment{}, false
	}
	hl := int(fixed[12]>>4) * 4
	if hl < header.TCPMinimumSize || hl > pkt.Payload.Len() {
		p.stats.Malformed.Inc()
		countEP(es, func(s *tcpip.EndpointStats) { s.MalformedPackets.Inc() })
		return segment{}, false
	}
	src, dst := info.Source.Unmap(), info.Destination.Unmap()
	if src.Is4() != dst.Is4() {
		p.stats.Malformed.Inc()
		return segment{}, false
	}
	if nicCapabilities(p.s, info.NIC)&stack.CapabilityRXChecksumOffload == 0 {
		var c header.Checksummer
		for b := range pkt.Payload.All() {
			c.Add(b)
		}
		sum := header.PseudoHeaderChecksum(ProtocolNumber, src, dst, uint32(pkt.Payload.Len()))
		if header.ChecksumCombine(sum, c.Sum()) != 0xffff {
			p.stats.ChecksumErrors.Inc()
			countEP(es, func(s *tcpip.EndpointStats) { s.ChecksumErrors.Inc() })
			return segment{}, false
		}
	}
	hb, _ := pkt.Peek(hl)
	t, err := header.ParseTCP(hb)
	if err != nil {
		p.stats.Malformed.Inc()
		return segment{}, false
	}
	g := segment{
		id:    id,
		nic:   info.NIC,
		seq:   t.SequenceNumber(),
		ack:   t.AckNumber(),
		flags: t.Flags() &^ header.TCPFlagsReserved,
		wnd:   t.WindowSize(),
		ecn:   info.TOS & header.ECNMask,
	}
	var oerr error
	g.opts, oerr = header.ParseTCPOptions(t.Options())
	if oerr != nil {
		// Linux's tcp_parse_options: keep what came before the bad
		// option, ignore the rest.
		p.stats.InvalidOptions.Inc()
	}
	if !p.sack.Load() {
		// SACK off: as if the peer had sent neither SACK-permitted nor
		// SACK blocks (Linux's tcp_sack=0).
		g.opts.SACKPermitted, g.opts.NumSACKBlocks = false, 0
	}
	pkt.ConsumeHeader(buffer.TransportLayer, hl)
	g.pkt = pkt
	g.dataLen = pkt.Payload.Len()
	p.stats.SegmentsReceived.Inc()
	return g, true
}

func countEP(es *tcpip.EndpointStats, f func(*tcpip.EndpointStats)) {
	if es != nil {
		f(es)
	}
}

// linkCapabilities is implemented by NICs that report their link's
// capabilities.
type linkCapabilities interface {
	Capabilities() stack.LinkCapabilities
}

func nicCapabilities(s *stack.Stack, id tcpip.NICID) stack.LinkCapabilities {
	ni, err := s.Interface(id)
	if err != nil {
		return 0
	}
	if c, ok := ni.(linkCapabilities); ok {
		return c.Capabilities()
	}
	return 0
}

// HandleUnknownDestinationPacket implements stack.TransportProtocol: a
// segment no endpoint wants is answered with RST as RFC 9293 §3.10.7.1
// (CLOSED state) says: an RST is dropped; otherwise, if ACK is off,
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, else <SEQ=SEG.ACK><CTL=RST>.
// Like Linux, RSTs to closed ports are not rate-limited.
func (p *protocol) HandleUnknownDestinationPacket(id stack.TransportEndpointID, info stack.NetworkPacketInfo, pkt *buffer.Packet) stack.TransportPacketDisposition {
	g, ok := p.parse(id, info, pkt, nil)
	if !ok {
		pkt.Release()
		return stack.TransportPacketHandled
	}
	defer g.release()
	p.stats.NoEndpoint.Inc()
	if info.Multicast || info.LocalAddressBroadcast {
		return stack.TransportPacketHandled
	}
	p.replyRST(&g, info.NIC)
	return stack.TransportPacketHandled
}

// replyRST answers g with an RST by RFC 9293 §3.10.7.1's rules.
func (p *protocol) replyRST(g *segment, nic tcpip.NICID) {
	if g.has(header.TCPFlagRST) {
		return
	}
	if g.has(header.TCPFlagACK) {
		p.sendRaw(g.id, nic, g.ack, 0, header.TCPFlagRST, 0, nil)
	} else {
		p.sendRaw(g.id, nic, 0, g.seq.Add(g.logicalLen()), header.TCPFlagRST|header.TCPFlagACK, 0, nil)
	}
}

// sendRaw sends a segment without data outside any connection: RSTs,
// and a listener's SYN-ACKs (with opts).
func (p *protocol) sendRaw(id stack.TransportEndpointID, nic tcpip.NICID, seq, ack seqnum.Value, flags header.TCPFlags, wnd uint16, opts []byte) {
	local, remote := id.LocalAddress.Unmap(), id.RemoteAddress.Unmap()
	r, err := p.s.FindRoute(nic, local, remote, tcpip.NetworkProtocolFor(remote), false)
	if err != nil {
		return
	}
	if flags&header.TCPFlagRST != 0 {
		p.stats.ResetsSent.Inc()
	}
	f := header.TCPFields{SrcPort: id.LocalPort, DstPort: id.RemotePort, SeqNum: seq, AckNum: ack, Flags: flags, WindowSize: wnd, Options: opts}
	n := f.Size()
	pkt := buffer.NewPacket(r.MaxHeaderLength()+n, nil)
	t := f.Encode(pkt.PrependHeader(buffer.TransportLayer, n))
	t.SetChecksum(t.CalculateChecksumPartial(r.LocalAddress, r.RemoteAddress, 0, 0))
	pkt.TransportProtocol = ProtocolNumber
	if err := r.WritePacket(stack.NetworkHeaderParams{Protocol: ProtocolNumber}, pkt); err != nil {
		p.stats.SegmentSendErrors.Inc()
		return
	}
	p.stats.SegmentsSent.Inc()
}

// mapped returns addr as an endpoint of family netProto reports it.
func mapped(netProto tcpip.NetworkProtocolNumber, addr netip.Addr) netip.Addr {
	if netProto == tcpip.IPv6ProtocolNumber && addr.Is4() {
		return netip.AddrFrom16(addr.As16())
	}
	return addr
}
