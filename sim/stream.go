package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// StreamConfig configures a stream transfer (StartStream).
type StreamConfig struct {
	// Port is the port the receiver listens on.
	Port uint16
	// To is the address the sender connects to; zero means the
	// receiving host's Addr.
	To netip.Addr
	// Size is the number of bytes to send.
	Size int64
	// Seed selects the pseudo-random data sent.
	Seed uint64
	// Protocol is the transport protocol of the endpoints; zero means
	// TCP. The hosts must run it (HostOptions.Transports).
	Protocol tcpip.TransportProtocolNumber
	// NewEndpoint, if set, makes the endpoints instead of
	// Stack.NewEndpoint(Protocol, the family of To): for transports outside the
	// stack's registry and for tests of the driver.
	NewEndpoint func(h *Host) (tcpip.Endpoint, error)
	// WriteSize is the most bytes offered to one Write; zero means 64 KiB.
	WriteSize int
}

// StreamResult is the outcome of a stream transfer.
type StreamResult struct {
	// Sent and Received count the bytes written by the sender and read
	// by the receiver.
	Sent, Received int64
	// Duration is the virtual time from the start to the receiver's end
	// of stream (or to now, if not Done).
	Duration time.Duration
	// Goodput is Received*8/Duration in bits per second.
	Goodput float64
	// Done reports that the receiver saw the end of the stream, or that
	// the transfer failed (Err).
	Done bool
	// Err is why the transfer failed: an endpoint error, or received data
	// that differ from what was sent (length or SHA-256).
	Err error
	// SentSHA256 and ReceivedSHA256 are the digests of the bytes written
	// and read (of all of them once Done).
	SentSHA256, ReceivedSHA256 [sha256.Size]byte
}

// OK reports whether the transfer finished and every byte arrived intact.
func (r StreamResult) OK() bool { return r.Done && r.Err == nil }

// String summarises the result on one line.
func (r StreamResult) String() string {
	state := "running"
	switch {
	case r.Err != nil:
		state = "failed: " + r.Err.Error()
	case r.Done:
		state = "ok"
	}
	return fmt.Sprintf("%d/%d bytes in %v (%.3f Mbit/s) %s", r.Received, r.Sent, r.Duration, r.Goodput/1e6, state)
}

// Stream drives a transfer between two stream endpoints through the
// non-blocking endpoint API: Connect, Listen, Accept, Write, Read,
// Shutdown and Close, each retried when the endpoint's WaitQueue reports
// it ready, from clock callbacks and without goroutines. The sender writes
// Size bytes of seeded pseudo-random data and shuts down its write side;
// the receiver reads to the end of the stream and compares the SHA-256 of
// what it read with that of what was written.
type Stream struct {
	net   *Network
	cfg   StreamConfig
	start time.Duration
	end   time.Duration

	// Sender.
	snd      tcpip.Endpoint
	sndStep  stepper
	sndUnw   func()
	rng      *rand.ChaCha8
	sndHash  hash.Hash
	pend     []byte // generated, not yet written
	pendOff  int
	sent     int64
	conned   bool
	shutdown bool

	// Receiver.
	lis     tcpip.Endpoint
	lisStep stepper
	lisUnw  func()
	rcv     tcpip.Endpoint
	rcvStep stepper
	rcvUnw  func()
	rcvHash hash.Hash
	rcvBuf  []byte
	recvd   int64

	done   bool
	err    error
	closed bool
}

// StreamTransfer sends size bytes of data seeded by seed over TCP from
// src to dst's port, runs the network until the transfer ends (or an hour
// of virtual time passes) and returns the result. The hosts must run TCP.
func StreamTransfer(src, dst *Host, port uint16, size int64, seed uint64) StreamResult {
	s, err := StartStream(src, dst, StreamConfig{Port: port, Size: size, Seed: seed})
	if err != nil {
		return StreamResult{Done: true, Err: err}
	}
	src.net.RunUntil(s.Done, time.Hour)
	r := s.Result()
	if !r.Done {
		r.Err = errors.New("sim: stream transfer did not finish within an hour")
	}
	s.Close()
	return r
}

// StartStream starts a transfer from src to dst: the receiver listens at
// once, the sender connects at once, and the rest happens as the network
// runs. Done reports when it is over.
func StartStream(src, dst *Host, cfg StreamConfig) (*Stream, error) {
	if cfg.Protocol == 0 {
		cfg.Protocol = tcpip.TCPProtocolNumber
	}
	if cfg.WriteSize <= 0 {
		cfg.WriteSize = 64 << 10
	}
	if !cfg.To.IsValid() {
		cfg.To = dst.Addr()
	}
	n := src.net
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], cfg.Seed)
	s := &Stream{
		net:     n,
		cfg:     cfg,
		start:   n.Now(),
		rng:     rand.NewChaCha8(seed),
		sndHash: sha256.New(),
		rcvHash: sha256.New(),
		rcvBuf:  make([]byte, 64<<10),
	}
	newEP := cfg.NewEndpoint
	if newEP == nil {
		newEP = func(h *Host) (tcpip.Endpoint, error) {
			return h.s.NewEndpoint(cfg.Protocol, tcpip.NetworkProtocolFor(cfg.To))
		}
	}
	var err error
	if s.lis, err = newEP(dst); err != nil {
		return nil, fmt.Errorf("sim: receiver endpoint: %w", err)
	}
	if err := s.lis.Bind(tcpip.FullAddress{Port: cfg.Port}); err != nil {
		s.lis.Close()
		return nil, fmt.Errorf("sim: receiver Bind: %w", err)
	}
	if err := s.lis.Listen(1); err != nil {
		s.lis.Close()
		return nil, fmt.Errorf("sim: receiver Listen: %w", err)
	}
	if s.snd, err = newEP(src); err != nil {
		s.lis.Close()
		return nil, fmt.Errorf("sim: sender endpoint: %w", err)
	}
	s.lisStep = stepper{clock: n.clock, f: s.accept}
	s.rcvStep = stepper{clock: n.clock, f: s.receive}
	s.sndStep = stepper{clock: n.clock, f: s.send}
	s.lisUnw = watch(s.lis, &s.lisStep, tcpip.EventIn|tcpip.EventErr|tcpip.EventHUp)
	s.sndUnw = watch(s.snd, &s.sndStep, tcpip.EventOut|tcpip.EventErr|tcpip.EventHUp)
	n.onClose(s.Close)

	switch err := s.snd.Connect(tcpip.FullAddress{Addr: cfg.To, Port: cfg.Port}); {
	case err == nil:
		s.conned = true
		s.sndStep.kick()
	case errors.Is(err, tcpip.ErrConnectStarted):
		// EventOut (or an error) will follow.
	default:
		s.Close()
		return nil, fmt.Errorf("sim: sender Connect: %w", err)
	}
	return s, nil
}

// Done reports whether the transfer is over: the receiver saw the end of
// the stream, or it failed.
func (s *Stream) Done() bool { return s.done }

// Result returns the outcome so far.
func (s *Stream) Result() StreamResult {
	end := s.end
	if !s.done {
		end = s.net.Now()
	}
	r := StreamResult{
		Sent: s.sent, Received: s.recvd, Duration: end - s.start,
		Done: s.done, Err: s.err,
	}
	if r.Duration > 0 {
		r.Goodput = float64(r.Received) * 8 / r.Duration.Seconds()
	}
	s.sndHash.Sum(r.SentSHA256[:0])
	s.rcvHash.Sum(r.ReceivedSHA256[:0])
	return r
}

func (s *Stream) fail(err error) {
	if s.done {
		return
	}
	s.done, s.err, s.end = true, err, s.net.Now()
	s.Close()
}

// send is the sender's step: finish connecting, write what fits, shut
// down the write side at the end.
func (s *Stream) send() {
	if s.done || s.shutdown {
		return
	}
	if !s.conned {
		if err := s.snd.LastError(); err != nil {
			s.fail(fmt.Errorf("sim: sender connect: %w", err))
			return
		}
		r := s.snd.Readiness(tcpip.EventOut | tcpip.EventErr | tcpip.EventHUp)
		if r&(tcpip.EventErr|tcpip.EventHUp) != 0 {
			s.fail(fmt.Errorf("sim: sender connect failed (events %#x)", r))
			return
		}
		if r&tcpip.EventOut == 0 {
			return
		}
		s.conned = true
	}
	for s.sent < s.cfg.Size {
		if s.pendOff == len(s.pend) {
			k := int(min(int64(s.cfg.WriteSize), s.cfg.Size-s.sent))
			if cap(s.pend) < k {
				s.pend = make([]byte, k)
			}
			s.pend = s.pend[:k]
			s.rng.Read(s.pend)
			s.pendOff = 0
		}
		n, err := s.snd.Write(s.pend[s.pendOff:], tcpip.WriteOptions{})
		if n > 0 {
			s.sndHash.Write(s.pend[s.pendOff : s.pendOff+n])
			s.pendOff += n
			s.sent += int64(n)
		}
		if errors.Is(err, tcpip.ErrWouldBlock) || (err == nil && n == 0) {
			return
		}
		if err != nil {
			s.fail(fmt.Errorf("sim: sender Write after %d bytes: %w", s.sent, err))
			return
		}
	}
	if err := s.snd.Shutdown(tcpip.ShutdownWrite); err != nil {
		s.fail(fmt.Errorf("sim: sender Shutdown: %w", err))
		return
	}
	s.shutdown = true
}

// accept is the listener's step: take the connection and start reading.
func (s *Stream) accept() {
	if s.done || s.rcv != nil {
		return
	}
	ep, _, err := s.lis.Accept()
	if errors.Is(err, tcpip.ErrWouldBlock) {
		return
	}
	if err != nil {
		s.fail(fmt.Errorf("sim: receiver Accept: %w", err))
		return
	}
	s.rcv = ep
	s.rcvUnw = watch(ep, &s.rcvStep, tcpip.EventIn|tcpip.EventErr|tcpip.EventHUp)
	s.rcvStep.kick()
}

// receive is the receiver's step: read everything there is, and check
// the data at the end of the stream.
func (s *Stream) receive() {
	if s.done {
		return
	}
	for {
		res, err := s.rcv.Read(s.rcvBuf, tcpip.ReadOptions{})
		if res.N > 0 {
			s.rcvHash.Write(s.rcvBuf[:res.N])
			s.recvd += int64(res.N)
		}
		switch {
		case errors.Is(err, tcpip.ErrWouldBlock):
			return
		case errors.Is(err, tcpip.ErrClosedForReceive):
			s.finish()
			return
		case err != nil:
			s.fail(fmt.Errorf("sim: receiver Read after %d bytes: %w", s.recvd, err))
			return
		}
		if res.N == 0 {
			return
		}
	}
}

func (s *Stream) finish() {
	var want, got [sha256.Size]byte
	s.sndHash.Sum(want[:0])
	s.rcvHash.Sum(got[:0])
	switch {
	case s.recvd != s.cfg.Size:
		s.fail(fmt.Errorf("sim: received %d bytes, want %d", s.recvd, s.cfg.Size))
	case s.sent != s.cfg.Size:
		s.fail(fmt.Errorf("sim: end of stream after %d bytes sent of %d", s.sent, s.cfg.Size))
	case want != got:
		s.fail(fmt.Errorf("sim: SHA-256 of the received data %x, of the sent data %x", got[:8], want[:8]))
	default:
		s.done, s.end = true, s.net.Now()
		s.Close()
	}
}

// Close ends the transfer: it stops the steps and closes every endpoint.
// A transfer not Done stays not Done.
func (s *Stream) Close() {
	if s.closed {
		return
	}
	s.closed = true
	for _, st := range []*stepper{&s.sndStep, &s.lisStep, &s.rcvStep} {
		st.stop()
	}
	for _, u := range []func(){s.sndUnw, s.lisUnw, s.rcvUnw} {
		if u != nil {
			u()
		}
	}
	s.snd.Close()
	s.lis.Close()
	if s.rcv != nil {
		s.rcv.Close()
	}
}
