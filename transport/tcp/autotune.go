package tcp

import (
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// Buffer autotuning.
//
// A connection starts with the Default of the stack's buffer ranges
// (tcpip.TCPReceiveBufferSizeRangeOption, TCPSendBufferSizeRangeOption)
// and grows its buffers, never beyond their Max, to what its path needs:
//
//   - Receive buffer (dynamic right-sizing, as Linux's
//     tcp_rcv_space_adjust): once per receiver-side RTT estimate, the
//     bytes the application read in that time are measured; when they
//     exceed the largest such measure so far, the buffer grows to twice
//     them (the sender must be able to send a window's worth while the
//     previous one is being read), plus room for reordering, scaled up
//     again by the growth of the rate (a sender in slow start doubles its
//     rate each round trip, and the buffer must stay ahead of it). The
//     application's reading drives it: a reader that does not keep up
//     never makes the buffer grow. The advertised right edge never moves
//     back (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4): the buffer only grows.
//   - Send buffer (as Linux's tcp_sndbuf_expand): after each ACK, the
//     limit grows to twice what may be in flight, the congestion window
//     bounded by the largest window the peer offered (three times in slow
//     start, where the window doubles within the next round trip), so
//     that an application writing whenever the socket is writable keeps
//     the pipe full.
//
// An endpoint whose user set ReceiveBufferSizeOption (SendBufferSizeOption)
// keeps that size, as Linux locks SO_RCVBUF/SO_SNDBUF; receive autotuning
// can be turned off for the stack with ModerateReceiveBufferOption(false)
// (Linux's tcp_moderate_rcvbuf). Memory is still taken only while data
// is queued: a large limit costs nothing to an idle connection.
//
// The state lives in endpoint fields that info.go and probes may read
// under the endpoint's lock:
//
//	rcvBufUser, sndBufUser  the user fixed the size (no autotuning)
//	rcvSpace                bytes read in the best measured RTT (Linux's rcvq_space.space)
//	rcvSpaceSeq, rcvSpaceAt where and when the current measure started
//	rcvRTTUs                receiver-side RTT estimate in µs, 0 if none yet (rcvRTTLocked)
//	rcvRTTSeq, rcvRTTAtMs   the pending window-based RTT measure (no timestamps)

// Default buffer ranges.
//
// Defaults: 128 KiB each, Linux's tcp_rmem[1] (its tcp_wmem[1] is
// 16 KiB, but Linux grows it from the first ACK; 128 KiB lets a single
// write queue the first flights of a fresh connection, 10 segments and
// the doubling after). It is what a connection that never needs more
// uses at most, and what an endpoint with autotuning off keeps. Larger
// defaults were measured in sim.TestGoodputTable: a 256 KiB receive
// window made NewReno without SACK faster than with it at 20 ms and 2–5 %
// loss (a loss-limited reader never grows its buffer, and the larger
// window only let more data past each hole), 1 MiB changed little else.
//
// Maxima: 32 MiB each, Linux's tcp_rmem[2] since 6.x: a path of 1 Gbit/s
// and 100 ms has a bandwidth-delay product of 12.5 MB; the receiver
// needs a window of at least that, and the sender the data in flight plus
// what the application queues behind it, about twice the window.
const (
	DefaultReceiveBufferSize    = 128 << 10
	DefaultSendBufferSize       = 128 << 10
	DefaultMaxReceiveBufferSize = 32 << 20
	DefaultMaxSendBufferSize    = 32 << 20
)

// ModerateReceiveBufferOption turns receive buffer autotuning on or off
// for the stack's connections (a protocol option, as Linux's
// net.ipv4.tcp_moderate_rcvbuf). On by default.
type ModerateReceiveBufferOption bool

// rcvReorderSegs is the room for reordering the receive buffer gets on
// top of twice the measured rate, in segments of the advertised MSS.
const rcvReorderSegs = 16

// bufRange is a Min/Default/Max triple of one of the buffer options.
type bufRange struct{ min, def, max int }

// setRange checks and stores a range option's values (RFC 7323 §2.3:
// no window above 2^30 can be advertised, MaxBufferSize).
func (r *bufRange) set(lo, def, hi int) error {
	if lo < MinBufferSize || lo > def || def > hi || hi > MaxBufferSize {
		return tcpip.ErrInvalidOptionValue
	}
	*r = bufRange{lo, def, hi}
	return nil
}

// setDefault is the stack-wide Send/ReceiveBufferSizeOption: the Default,
// within [Min, MaxBufferSize]; a Max below it is raised.
func (r *bufRange) setDefault(v int) {
	r.def = min(max(v, r.min, MinBufferSize), MaxBufferSize)
	r.max = max(r.max, r.def)
}

// windowShift is the smallest window scale (RFC 7323 §2.3, at most 14)
// that lets size bytes be advertised.
func windowShift(size int) uint8 {
	var ws uint8
	for ws < header.TCPMaxWindowScale && 0xffff<<ws < size {
		ws++
	}
	return ws
}

// rcvAutotuneLocked reports whether the receive buffer autotunes: on for
// the stack, and no ReceiveBufferSizeOption set.
func (e *endpoint) rcvAutotuneLocked() bool {
	return !e.rcvBufUser && e.p.moderate.Load()
}

// rcvBufCeilLocked is the largest the receive buffer may become: its
// autotuning maximum, or its size when autotuning is off for it. The
// window scale of our SYN is computed from it (RFC 7323 §2.2: the shift
// is fixed for the connection's life, so it must allow the largest window
// the buffer will ever offer).
func (e *endpoint) rcvBufCeilLocked() int {
	if !e.rcvAutotuneLocked() {
		return e.rcvBufSize
	}
	return max(e.rcvBufSize, int(e.p.rcvMax.Load()))
}

// rcvRTTLocked is the receiver-side RTT estimate, 0 if none yet.
func (e *endpoint) rcvRTTLocked() time.Duration {
	if e.extra == nil {
		return 0
	}
	return time.Duration(e.extra.rcvRTTUs) * time.Microsecond
}

// rcvRTTSampleLocked folds a receiver-side RTT sample into the estimate:
// a smaller sample is taken at once (a measure can only be inflated, by
// a sender that paused), a larger one moves it by 1/8.
func (e *endpoint) rcvRTTSampleLocked(d time.Duration) {
	us := uint32(min(max(d, time.Millisecond), time.Hour) / time.Microsecond) // timestamps tick in ms
	x := e.extraLocked()
	if x.rcvRTTUs == 0 || us < x.rcvRTTUs {
		x.rcvRTTUs = us
		return
	}
	x.rcvRTTUs += (us - x.rcvRTTUs) / 8
}

// msClock is the monotonic clock in milliseconds, never 0 (0 stands for
// "not measuring" in rcvRTTAtMs).
func msClock(now tcpip.MonotonicTime) uint32 {
	return max(uint32(now.Nanoseconds()/1e6), 1)
}

// rcvRTTMeasureLocked takes a receiver-side RTT sample from an in-order
// data segment g. With timestamps (RFC 7323 §4.3): the TSecr of new data
// echoes the TSval of an ACK of ours that released it, a round trip ago.
// Without: the time between advertising a right edge and receiving the
// data that reaches it, once per window.
func (e *endpoint) rcvRTTMeasureLocked(g *segment, now tcpip.MonotonicTime) {
	if g.dataLen == 0 {
		return
	}
	if e.tsOK {
		if g.opts.HasTimestamps && g.opts.TSEcr != 0 && g.dataLen >= e.advMSS/2 {
			if d := e.tsNowLocked() - g.opts.TSEcr; d < 1<<31 {
				e.rcvRTTSampleLocked(time.Duration(d) * time.Millisecond)
			}
		}
		return
	}
	ms := msClock(now)
	x := e.extraLocked()
	if x.rcvRTTAtMs != 0 {
		if e.rcvNxt.LessThan(x.rcvRTTSeq) {
			return
		}
		e.rcvRTTSampleLocked(time.Duration(ms-x.rcvRTTAtMs) * time.Millisecond)
	}
	x.rcvRTTSeq, x.rcvRTTAtMs = seqnum.Max(e.rcvAdv, e.rcvNxt.Add(1)), ms
}

// rcvSpaceAdjustLocked runs after the application read: once per
// receiver RTT it measures what was read and grows the receive buffer
// (see the comment at the top of the file).
func (e *endpoint) rcvSpaceAdjustLocked() {
	now := e.nowLocked()
	read := e.rcvNxt.Sub(seqnum.Size(e.rcvBuf.Len()))
	x := e.extraLocked()
	if x.rcvSpaceAt.IsZero() {
		// The first read starts the first measure; RFC 6928's
		// initial window is what the peer can send in its first
		// round trip.
		x.rcvSpace = uint32(min(e.rcvBufSize, 10*e.advMSS))
		x.rcvSpaceSeq, x.rcvSpaceAt = read, now
		return
	}
	if rtt := e.rcvRTTLocked(); rtt == 0 || now.Sub(x.rcvSpaceAt) < rtt {
		return
	}
	copied := int(x.rcvSpaceSeq.Size(read))
	x.rcvSpaceSeq, x.rcvSpaceAt = read, now
	space := int(x.rcvSpace)
	if copied <= space {
		return
	}
	x.rcvSpace = uint32(copied)
	if !e.rcvAutotuneLocked() {
		return
	}
	want := 2*copied + rcvReorderSegs*e.advMSS
	// The rate grew by copied/space in the last round trip; expect as
	// much again (at most a doubling, slow start's).
	want += 2 * want * min(copied-space, space) / max(space, 1)
	if want = min(want, int(e.p.rcvMax.Load())); want > e.rcvBufSize {
		e.rcvBufSize = want
		e.publishBacklogLimitLocked()
	}
}

// sndBufExpandLocked grows the send buffer after an ACK to what keeps
// the pipe full (see the comment at the top of the file).
func (e *endpoint) sndBufExpandLocked() {
	if e.sndBufUser || e.cc == nil {
		return
	}
	// What can be in flight: the congestion window, but not beyond the
	// largest window the peer offered (a window-limited flow's cwnd may
	// grow without bound, and the data queued beyond what the peer
	// takes per round trip would only wait).
	cwnd := e.cc.Cwnd()
	flight := min(cwnd, max(int(e.maxSndWnd), e.sndMSS))
	want := 2 * flight
	if cwnd < e.cc.Ssthresh() {
		want = 3 * flight
	}
	want = min(want, int(e.p.sndMax.Load()))
	if want > e.sndBufSize {
		e.sndBufSize = want
		e.publishBacklogLimitLocked()
		if !e.finQueued && e.writableLocked() {
			e.notifyLocked(tcpip.EventOut)
		}
	}
}

// Out-of-order memory (RFC 9293 §3.10.7.4 lets a receiver keep segments
// beyond a hole; RFC 7323 §2.4 and RFC 9293 §3.8.6.2.2 make it honour the
// whole window it advertised). The out-of-order queue may use the whole
// receive buffer: the window admits no byte beyond the free space, so the
// payload queued is bounded by the buffer (the incumbent stack keeps only
// a quarter of the window, which makes a sender that fills a large
// window after one early loss retransmit most of it). What the payload
// count misses is the cost of each run: its bookkeeping and the chunk
// holding its bytes, which for a tiny segment can be a thousand times its
// size. So each run is charged oooRunCost on top of its bytes, a tiny
// segment is copied into a chunk of its own size first, and a segment
// that would take the charge beyond the buffer is dropped and counted
// (ReceiveBufferDrops). Full-sized segments never meet the limit: a run
// costs less than the hole of at least one segment that separates it
// from the next.
const (
	oooRunCost     = 512
	oooCompactSize = 256
)

// oooAdmitLocked decides whether data, out of order, may join the queue,
// compacting it if it is small (see above).
func (e *endpoint) oooAdmitLocked(data *buffer.Buffer) bool {
	if e.oooBytes+data.Len()+(len(e.ooo)+1)*oooRunCost > max(e.rcvBufSize, 2*oooRunCost) {
		e.p.stats.ReceiveBufferDrops.Inc()
		e.stats.ReceiveBufferErrors.Inc()
		return false
	}
	if data.Len() <= oooCompactSize {
		data.Compact()
	}
	return true
}
