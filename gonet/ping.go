package gonet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Defaults of PingOptions, those of ping(8) but for the timeout.
const (
	// DefaultPingSize is the data carried by an echo request after its
	// 8-byte ICMP header: ping(8)'s 56, which makes an 84-byte IPv4
	// packet.
	DefaultPingSize = 56
	// DefaultPingInterval is the time between two requests of one Ping.
	DefaultPingInterval = time.Second
	// DefaultPingTimeout is how long a request waits for its reply.
	DefaultPingTimeout = 2 * time.Second
)

// Echo messages (RFC 792 for ICMPv4, RFC 4443 §4.1 and §4.2 for ICMPv6):
// type, code, checksum, identifier, sequence number, then data.
const (
	pingHeaderSize = 8
	pingSeqOffset  = 6
	pingV4Request  = 8
	pingV4Reply    = 0
	pingV6Request  = 128
	pingV6Reply    = 129
)

// PingOptions configure a Pinger and the requests of Ping. The zero value
// sends one request of DefaultPingSize bytes and waits DefaultPingTimeout
// for its reply.
type PingOptions struct {
	// Count is the number of requests Ping sends; 0 means 1.
	Count int
	// Interval is the time between the requests of Ping, measured on the
	// stack's Clock; 0 means DefaultPingInterval.
	Interval time.Duration
	// Timeout is how long each request waits for its reply, measured on
	// the stack's Clock; 0 means DefaultPingTimeout.
	Timeout time.Duration
	// Size is the number of data bytes of each request after the ICMP
	// header; 0 means DefaultPingSize, a negative value none.
	Size int
	// Data, if not empty, is repeated to fill the data (ping -p);
	// otherwise byte i of the data is i mod 256.
	Data []byte
	// Source, if valid, is the source address of the requests.
	Source netip.Addr
	// NIC, if not 0, sends the requests through that NIC.
	NIC tcpip.NICID
	// TTL, if not 0, is the requests' TTL (hop limit).
	TTL uint8
	// Broadcast allows a broadcast destination (ping -b), and accepts
	// replies from any host rather than only from the destination.
	Broadcast bool
}

// PingReply is the reply to one echo request.
type PingReply struct {
	// Seq is the sequence number of the request it answers.
	Seq uint16
	// From is the host that answered.
	From netip.Addr
	// Size is the number of data bytes of the reply.
	Size int
	// RTT is the time from sending the request to reading the reply,
	// measured on the stack's Clock.
	RTT time.Duration
}

// Ping sends opts.Count echo requests (ICMPv4 or ICMPv6 by dst's family)
// from s to dst, one every opts.Interval, each waiting opts.Timeout for its
// reply, and returns the replies received, in order. If a request gets no
// reply in time, Ping goes on with the next one and returns, with the
// replies, an error wrapping tcpip.ErrTimeout (errors.Is(err,
// syscall.ETIMEDOUT), and Timeout() is true). It stops early with ctx's
// error if ctx is done, or with the first error of sending.
//
// The stack must run the ICMP echo transport protocol of dst's family
// (icmp.NewProtocol4, icmp.NewProtocol6).
func Ping(ctx context.Context, s *stack.Stack, dst netip.Addr, opts PingOptions) ([]PingReply, error) {
	p, err := NewPinger(s, dst, opts)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	count := max(opts.Count, 1)
	interval := opts.Interval
	if interval <= 0 {
		interval = DefaultPingInterval
	}
	var replies []PingReply
	lost := 0
	next := s.Clock().NowMonotonic()
	for seq := range count {
		if seq > 0 {
			next = next.Add(interval)
			if err := sleepUntil(ctx, s.Clock(), next); err != nil {
				return replies, p.fail(err)
			}
		}
		r, err := p.Ping(ctx, uint16(seq+1))
		switch {
		case err == nil:
			replies = append(replies, r)
		case errors.Is(err, tcpip.ErrTimeout):
			lost++
		default:
			return replies, err
		}
	}
	if lost > 0 {
		return replies, p.fail(tcpip.ErrTimeout)
	}
	return replies, nil
}

// sleepUntil waits until the monotonic time t of clock, or until ctx is
// done.
func sleepUntil(ctx context.Context, clock tcpip.Clock, t tcpip.MonotonicTime) error {
	d := t.Sub(clock.NowMonotonic())
	if d <= 0 {
		return ctx.Err()
	}
	ch := make(chan struct{})
	timer := clock.AfterFunc(d, func() { close(ch) })
	defer timer.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pinger sends echo requests to one destination from an ICMP echo endpoint
// (a "ping socket", whose port is the requests' Identifier) and matches
// their replies. Its methods are safe for concurrent use, but concurrent
// Pings must use different sequence numbers.
type Pinger struct {
	s        *stack.Stack
	ep       tcpip.Endpoint
	netProto tcpip.NetworkProtocolNumber
	dst      tcpip.FullAddress
	opts     PingOptions
	request  []byte // header and data of every request, the sequence number aside
	reply    uint8  // the echo reply type of the family

	closeMu sync.Mutex
	closed  bool          // guarded by closeMu
	closing chan struct{} // closed by Close
}

// NewPinger returns a Pinger of s for dst with the options opts (Count and
// Interval are Ping's and ignored here).
func NewPinger(s *stack.Stack, dst netip.Addr, opts PingOptions) (*Pinger, error) {
	p := &Pinger{s: s, opts: opts, closing: make(chan struct{})}
	netProto, transProto := tcpip.IPv4ProtocolNumber, tcpip.ICMPv4ProtocolNumber
	reqType, repType := uint8(pingV4Request), uint8(pingV4Reply)
	if dst.Is6() && !dst.Is4In6() {
		netProto, transProto = tcpip.IPv6ProtocolNumber, tcpip.ICMPv6ProtocolNumber
		reqType, repType = pingV6Request, pingV6Reply
	}
	p.netProto, p.reply = netProto, repType
	fail := func(err error) (*Pinger, error) {
		return nil, opError("ping", pingNetwork(netProto), nil, ipAddr(dst), err)
	}
	da, err := fullAddress(s, netip.AddrPortFrom(dst, 0), netProto)
	if err != nil {
		return fail(err)
	}
	if !da.Addr.IsValid() {
		return fail(tcpip.ErrDestinationRequired)
	}
	if opts.NIC != 0 {
		da.NIC = opts.NIC
	}
	p.dst = da
	ep, err := s.NewEndpoint(transProto, netProto)
	if err != nil {
		return fail(err)
	}
	p.ep = ep
	setup := func() error {
		if opts.Broadcast {
			if err := ep.SetSockOpt(tcpip.BroadcastOption(true)); err != nil {
				return err
			}
		}
		if opts.TTL != 0 {
			if err := ep.SetSockOpt(tcpip.TTLOption(opts.TTL)); err != nil {
				return err
			}
		}
		if opts.NIC != 0 {
			if err := ep.SetSockOpt(tcpip.BindToDeviceOption(opts.NIC)); err != nil {
				return err
			}
		}
		// Binding picks the Identifier now (port 0: an ephemeral one),
		// from the source address if one is asked for.
		src := tcpip.FullAddress{}
		if opts.Source.IsValid() {
			var err error
			if src, err = fullAddress(s, netip.AddrPortFrom(opts.Source, 0), netProto); err != nil {
				return err
			}
		}
		return ep.Bind(src)
	}
	if err := setup(); err != nil {
		ep.Close()
		return fail(err)
	}
	size := opts.Size
	if size == 0 {
		size = DefaultPingSize
	}
	size = max(size, 0)
	p.request = make([]byte, pingHeaderSize+size)
	p.request[0] = reqType
	data := p.request[pingHeaderSize:]
	for i := range data {
		if len(opts.Data) > 0 {
			data[i] = opts.Data[i%len(opts.Data)]
		} else {
			data[i] = byte(i)
		}
	}
	return p, nil
}

// ID returns the Identifier of the Pinger's requests (its endpoint's port).
func (p *Pinger) ID() uint16 {
	a, err := p.ep.LocalAddress()
	if err != nil {
		return 0
	}
	return a.Port
}

// Ping sends one echo request with sequence number seq and waits for its
// reply, for at most the Pinger's timeout (then the error wraps
// tcpip.ErrTimeout) or until ctx is done. Replies to other requests (late
// ones, say) are discarded. A reply whose data differs from the request's
// gives an error wrapping tcpip.ErrMalformed.
func (p *Pinger) Ping(ctx context.Context, seq uint16) (PingReply, error) {
	timeout := p.opts.Timeout
	if timeout <= 0 {
		timeout = DefaultPingTimeout
	}
	clock := p.s.Clock()
	expired := make(chan struct{})
	timer := clock.AfterFunc(timeout, func() { close(expired) })
	defer timer.Stop()

	req := make([]byte, len(p.request))
	copy(req, p.request)
	binary.BigEndian.PutUint16(req[pingSeqOffset:], seq)
	start := clock.NowMonotonic()
	to := p.dst
	err := block(ctx, p.ep, tcpip.EventOut|tcpip.EventErr|tcpip.EventHUp, nil, p.closing, func() error {
		_, err := p.ep.Write(req, tcpip.WriteOptions{To: &to})
		return datagramWriteError(p.ep, err)
	})
	if err != nil {
		return PingReply{}, p.fail(err)
	}

	// A reply is as long as its request; a longer one is cut, and then
	// its Total tells.
	buf := make([]byte, len(req))
	for {
		var res tcpip.ReadResult
		err := block(ctx, p.ep, tcpip.EventIn|tcpip.EventErr|tcpip.EventHUp, expired, p.closing, func() error {
			var err error
			res, err = p.ep.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true})
			if err == tcpip.ErrClosedForReceive {
				err = net.ErrClosed
			}
			return err
		})
		if err == os.ErrDeadlineExceeded {
			err = tcpip.ErrTimeout
		}
		if err != nil {
			return PingReply{}, p.fail(err)
		}
		rtt := clock.NowMonotonic().Sub(start)
		msg := buf[:res.N]
		// The endpoint delivers only echo replies carrying its
		// Identifier; the type is checked all the same.
		if len(msg) < pingHeaderSize || msg[0] != p.reply ||
			binary.BigEndian.Uint16(msg[pingSeqOffset:]) != seq {
			continue
		}
		from := res.RemoteAddr.Addr
		if !p.opts.Broadcast && from != p.dst.Addr {
			continue
		}
		// RFC 792: "The data received in the echo message must be
		// returned in the echo reply message."
		if res.Total != len(req) || !bytes.Equal(msg[pingHeaderSize:], req[pingHeaderSize:]) {
			return PingReply{}, p.fail(tcpip.ErrMalformed)
		}
		return PingReply{Seq: seq, From: from, Size: res.Total - pingHeaderSize, RTT: rtt}, nil
	}
}

// fail wraps err as a *net.OpError of the Pinger.
func (p *Pinger) fail(err error) error {
	select {
	case <-p.closing:
		err = net.ErrClosed
	default:
	}
	return opError("ping", pingNetwork(p.netProto), nil, ipAddr(p.dst.Addr), err)
}

// Close closes the Pinger's endpoint; Pings in progress return an error
// wrapping net.ErrClosed.
func (p *Pinger) Close() error {
	p.closeMu.Lock()
	if p.closed {
		p.closeMu.Unlock()
		return p.fail(net.ErrClosed)
	}
	p.closed = true
	close(p.closing)
	p.closeMu.Unlock()
	p.ep.Close()
	return nil
}

// pingNetwork names the network of a Pinger's errors as package net names
// ICMP sockets.
func pingNetwork(netProto tcpip.NetworkProtocolNumber) string {
	if netProto == tcpip.IPv6ProtocolNumber {
		return "ip6:ipv6-icmp"
	}
	return "ip4:icmp"
}

// ipAddr converts a to a *net.IPAddr, or nil if a is not valid.
func ipAddr(a netip.Addr) net.Addr {
	if !a.IsValid() {
		return nil
	}
	return &net.IPAddr{IP: a.AsSlice(), Zone: a.Zone()}
}
