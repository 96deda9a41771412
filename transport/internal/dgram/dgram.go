// Package dgram holds what ustack's datagram endpoints (UDP, ICMP echo, raw
// IP and packet endpoints) keep alike: the receive queue, the shutdown
// flags, the pending error and the socket options they share, with the
// read path that turns a queued datagram into a tcpip.ReadResult and the
// readiness those give.
//
// A Socket is not safe for concurrent use: its endpoint guards it with its
// own lock (the endpoint's mu), and every method of Socket expects that
// lock held. Nothing here sends, notifies or calls into the stack, so the
// lock may be held across any of these calls.
package dgram

import (
	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/rcvq"
)

// Buffer sizes (SO_RCVBUF, SO_SNDBUF), the same for every datagram
// endpoint: the defaults are Linux's net.core.rmem_default and
// wmem_default; values set are clamped to [MinBufferSize, MaxBufferSize].
const (
	DefaultReceiveBufferSize = 212992
	DefaultSendBufferSize    = 212992
	MinBufferSize            = 4096
	MaxBufferSize            = 4 << 20
)

// Kind is the kind of a datagram endpoint. It says what its datagrams are,
// how Read reports them, and which of the shared options it has.
type Kind uint8

const (
	// Transport endpoints (UDP, ICMP echo) queue packets whose payload
	// is the datagram. They have every option Socket knows.
	Transport Kind = iota
	// RawIP endpoints queue packets whose headers and payload, after
	// Entry.Skip bytes, are the datagram. They have every option Socket
	// knows but ReuseAddressOption: they reserve no port.
	RawIP
	// Packet endpoints queue frames, the datagram being the frame after
	// Entry.Skip bytes; Read reports link-level addresses. Of the
	// options here they have only the buffer sizes and TimestampOption.
	Packet
)

// Socket is the state every kind of datagram endpoint keeps alike: its
// receive queue, shutdown flags, pending error and shared socket options.
// Its endpoint's lock guards all of it. Make one with NewSocket.
type Socket struct {
	kind Kind

	// Rcv holds the datagrams received and not yet read, bounded by
	// RcvBufSize.
	Rcv rcvq.Queue
	// Shutdown holds the directions shut (Endpoint.Shutdown).
	Shutdown tcpip.ShutdownFlags
	// Err is the pending asynchronous error (from ICMP, for UDP and ICMP
	// echo endpoints), reported and cleared by the next Read, Write or
	// LastError.
	Err error

	// RcvBufSize and SndBufSize are SO_RCVBUF and SO_SNDBUF.
	RcvBufSize int
	SndBufSize int
	// Timestamp is SO_TIMESTAMP: datagrams are stamped when queued.
	Timestamp bool

	// The options below are not those of Packet endpoints.

	// ReuseAddr is SO_REUSEADDR (Transport endpoints only).
	ReuseAddr bool
	// BindToDevice is SO_BINDTODEVICE. GetSockOpt reports it, but each
	// endpoint sets it itself: the rules for changing it differ.
	BindToDevice tcpip.NICID
	// BindNIC is the NIC given to Bind (Transport and RawIP endpoints).
	BindNIC tcpip.NICID
	// Broadcast is SO_BROADCAST.
	Broadcast bool
	// TTL (0: the route's default) and TOS are those of datagrams sent.
	TTL uint8
	TOS uint8
	// RcvTOS, RcvTTL and RcvPktInfo ask for IP_TOS, IP_TTL and
	// IP_PKTINFO control messages on Read.
	RcvTOS     bool
	RcvTTL     bool
	RcvPktInfo bool
}

// NewSocket returns the Socket of an endpoint of kind k, with an empty
// queue and the default buffer sizes.
func NewSocket(k Kind) Socket {
	return Socket{kind: k, RcvBufSize: DefaultReceiveBufferSize, SndBufSize: DefaultSendBufferSize}
}

// clampBufferSize bounds a buffer size option to [MinBufferSize,
// MaxBufferSize].
func clampBufferSize(n int) int {
	return min(max(n, MinBufferSize), MaxBufferSize)
}

// SetSockOpt sets opt if it is one of the shared options the endpoint's
// kind has, and reports whether it did; the endpoint handles every other
// option (BindToDeviceOption among them) itself. None of these options can
// be refused.
func (s *Socket) SetSockOpt(opt any) bool {
	switch v := opt.(type) {
	case tcpip.ReceiveBufferSizeOption:
		s.RcvBufSize = clampBufferSize(int(v))
	case tcpip.SendBufferSizeOption:
		s.SndBufSize = clampBufferSize(int(v))
	case tcpip.TimestampOption:
		s.Timestamp = bool(v)
	default:
		if s.kind == Packet {
			return false
		}
		return s.setIPOpt(opt)
	}
	return true
}

// setIPOpt is SetSockOpt for the options packet endpoints do not have.
func (s *Socket) setIPOpt(opt any) bool {
	switch v := opt.(type) {
	case tcpip.ReuseAddressOption:
		if s.kind != Transport {
			return false
		}
		// Applies to later binds, as in Linux (the sharing rules are
		// checked when a port is reserved).
		s.ReuseAddr = bool(v)
	case tcpip.BroadcastOption:
		s.Broadcast = bool(v)
	case tcpip.TTLOption:
		s.TTL = uint8(v)
	case tcpip.TOSOption:
		s.TOS = uint8(v)
	case tcpip.ReceiveTOSOption:
		s.RcvTOS = bool(v)
	case tcpip.ReceiveTTLOption:
		s.RcvTTL = bool(v)
	case tcpip.ReceivePacketInfoOption:
		s.RcvPktInfo = bool(v)
	default:
		return false
	}
	return true
}

// GetSockOpt stores in *opt the value of a shared option the endpoint's
// kind has, or the queue sizes, and reports whether it did.
func (s *Socket) GetSockOpt(opt any) bool {
	switch v := opt.(type) {
	case *tcpip.ReceiveBufferSizeOption:
		*v = tcpip.ReceiveBufferSizeOption(s.RcvBufSize)
	case *tcpip.SendBufferSizeOption:
		*v = tcpip.SendBufferSizeOption(s.SndBufSize)
	case *tcpip.TimestampOption:
		*v = tcpip.TimestampOption(s.Timestamp)
	case *tcpip.ReceiveQueueSizeOption:
		// Linux's udp_ioctl(SIOCINQ): the size of the first queued
		// datagram, not the sum of all of them.
		n := 0
		if f := s.Rcv.Front(); f != nil {
			n = s.size(f)
		}
		*v = tcpip.ReceiveQueueSizeOption(n)
	case *tcpip.SendQueueSizeOption:
		// Datagrams go to the network layer or link at once (UDP
		// reports what its send buffer is charged before asking).
		*v = 0
	default:
		if s.kind == Packet {
			return false
		}
		return s.getIPOpt(opt)
	}
	return true
}

// getIPOpt is GetSockOpt for the options packet endpoints do not have.
func (s *Socket) getIPOpt(opt any) bool {
	switch v := opt.(type) {
	case *tcpip.ReuseAddressOption:
		if s.kind != Transport {
			return false
		}
		*v = tcpip.ReuseAddressOption(s.ReuseAddr)
	case *tcpip.BindToDeviceOption:
		*v = tcpip.BindToDeviceOption(s.BindToDevice)
	case *tcpip.BroadcastOption:
		*v = tcpip.BroadcastOption(s.Broadcast)
	case *tcpip.TTLOption:
		*v = tcpip.TTLOption(s.TTL)
	case *tcpip.TOSOption:
		*v = tcpip.TOSOption(s.TOS)
	case *tcpip.ReceiveTOSOption:
		*v = tcpip.ReceiveTOSOption(s.RcvTOS)
	case *tcpip.ReceiveTTLOption:
		*v = tcpip.ReceiveTTLOption(s.RcvTTL)
	case *tcpip.ReceivePacketInfoOption:
		*v = tcpip.ReceivePacketInfoOption(s.RcvPktInfo)
	default:
		return false
	}
	return true
}

// Enqueue queues ent (stamped with clock's time if Timestamp is set)
// unless the queue is full, and reports whether it did. On success the
// queue owns ent.Pkt; on failure the caller still does.
func (s *Socket) Enqueue(ent rcvq.Entry, clock tcpip.Clock) bool {
	if s.Timestamp {
		ent.Timestamp = clock.Now()
	}
	return s.Rcv.Push(ent, s.RcvBufSize)
}

// Done is what a Read leaves to do once its endpoint's lock is released:
// release the packet of the datagram it dequeued, if any. Its zero value
// does nothing.
type Done struct {
	pkt *buffer.Packet
}

// Release releases the dequeued packet, if any. Call it after unlocking:
// the packet is no longer the endpoint's.
func (d Done) Release() {
	if d.pkt != nil {
		d.pkt.Release()
	}
}

// Device returns the NIC the endpoint is restricted to: BindToDevice,
// else BindNIC (as an IPv6 scope ID binds a Linux socket to its device),
// else 0.
func (s *Socket) Device() tcpip.NICID {
	if s.BindToDevice != 0 {
		return s.BindToDevice
	}
	return s.BindNIC
}

// TakeErr returns the pending error, clearing it.
func (s *Socket) TakeErr() error {
	err := s.Err
	s.Err = nil
	return err
}

// Readiness returns the events of the endpoint, closed or not: it is
// always writable (datagrams go to the network layer or link at once),
// readable with a datagram queued or once shut for reading, hung up when
// closed or shut both ways, and in error with an error pending.
func (s *Socket) Readiness(closed bool) tcpip.Events {
	r := tcpip.EventOut
	if closed {
		return r | tcpip.EventIn | tcpip.EventHUp
	}
	if s.Rcv.Len() > 0 || s.Shutdown&tcpip.ShutdownRead != 0 {
		r |= tcpip.EventIn
	}
	if s.Shutdown&tcpip.ShutdownRead != 0 {
		r |= tcpip.EventRdHUp
	}
	// Shut both ways: hang-up, as Linux's datagram_poll reports.
	if s.Shutdown == tcpip.ShutdownRead|tcpip.ShutdownWrite {
		r |= tcpip.EventHUp
	}
	if s.Err != nil {
		r |= tcpip.EventErr
	}
	return r
}

// Read is the queue side of an endpoint's Read: it copies the oldest
// datagram into p (truncated to len(p); ReadResult.Total is its size) and
// describes it as opts and the options ask. The datagram is dequeued
// unless opts.Peek is set; then it stays queued and the copy is made under
// the lock, which is why the lock must be held. The caller releases the
// returned Done after unlocking.
//
// A pending error is returned (and cleared) first, as Linux's
// __skb_recv_udp checks sock_error before dequeuing. With the queue empty,
// Read returns tcpip.ErrClosedForReceive if the endpoint is closed or shut
// for reading, else tcpip.ErrWouldBlock.
//
// ReadResult.RemoteAddr holds, for Transport and RawIP endpoints, the
// NIC, source address and (UDP) port as queued; for Packet endpoints the
// NIC, source link address and protocol, with LinkPacketInfo filled if
// opts.NeedLinkPacketInfo.
func (s *Socket) Read(p []byte, opts *tcpip.ReadOptions, closed bool) (tcpip.ReadResult, Done, error) {
	if err := s.TakeErr(); err != nil {
		return tcpip.ReadResult{}, Done{}, err
	}
	closed = closed || s.Shutdown&tcpip.ShutdownRead != 0
	if opts.Peek {
		f := s.Rcv.Front()
		if f == nil {
			return tcpip.ReadResult{}, Done{}, emptyError(closed)
		}
		return s.result(f, p, opts), Done{}, nil
	}
	ent, ok := s.Rcv.Pop()
	if !ok {
		return tcpip.ReadResult{}, Done{}, emptyError(closed)
	}
	return s.result(&ent, p, opts), Done{pkt: ent.Pkt}, nil
}

// emptyError is Read's error when no datagram is queued.
func emptyError(closed bool) error {
	if closed {
		return tcpip.ErrClosedForReceive
	}
	return tcpip.ErrWouldBlock
}

// size returns the size of ent's datagram.
func (s *Socket) size(ent *rcvq.Entry) int {
	if s.kind == Transport {
		return ent.Pkt.Payload.Len()
	}
	return ent.Pkt.Len() - ent.Skip
}

// result copies ent's datagram into p and describes it.
func (s *Socket) result(ent *rcvq.Entry, p []byte, opts *tcpip.ReadOptions) tcpip.ReadResult {
	res := tcpip.ReadResult{Total: s.size(ent)}
	if s.kind == Transport {
		res.N = ent.Pkt.Payload.CopyTo(p)
	} else {
		res.N = copyFrom(p, ent.Pkt, ent.Skip)
	}
	if s.kind == Packet {
		if opts.NeedRemoteAddr {
			res.RemoteAddr = tcpip.FullAddress{NIC: ent.NIC, LinkAddr: ent.LinkSrc, Port: uint16(ent.NetProto)}
		}
		if opts.NeedLinkPacketInfo {
			res.LinkPacketInfo = tcpip.LinkPacketInfo{Protocol: ent.NetProto, PacketType: uint8(ent.PktType)}
		}
	} else if opts.NeedRemoteAddr {
		res.RemoteAddr = tcpip.FullAddress{NIC: ent.NIC, Addr: ent.Src, Port: ent.SrcPort}
	}
	c := &res.Control
	if s.RcvTOS {
		c.HasTOS, c.TOS = true, ent.TOS
	}
	if s.RcvTTL {
		c.HasTTL, c.TTL = true, ent.TTL
	}
	if s.RcvPktInfo {
		c.HasPacketInfo, c.LocalAddr, c.NIC = true, ent.Dst, ent.NIC
	}
	if s.Timestamp && !ent.Timestamp.IsZero() {
		c.HasTimestamp, c.Timestamp = true, ent.Timestamp
	}
	return res
}

// copyFrom copies the bytes of pkt (headers, then payload) after the
// first skip into p and returns how many it copied.
func copyFrom(p []byte, pkt *buffer.Packet, skip int) int {
	n := 0
	for b := range pkt.All() {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		b = b[skip:]
		skip = 0
		n += copy(p[n:], b)
		if n == len(p) {
			break
		}
	}
	return n
}
