package dgram_test

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/dgram"
	"github.com/ustack-go/ustack/transport/internal/rcvq"
)

var kinds = []struct {
	name string
	kind dgram.Kind
}{
	{"transport", dgram.Transport},
	{"rawip", dgram.RawIP},
	{"packet", dgram.Packet},
}

// packetWithHeaders returns a packet with headers hdrs (outermost first)
// in its header area and payload as its payload.
func packetWithHeaders(payload []byte, hdrs ...[]byte) *buffer.Packet {
	p := buffer.NewPacketFromBytes(64, payload)
	for i := len(hdrs) - 1; i >= 0; i-- {
		copy(p.Prepend(len(hdrs[i])), hdrs[i])
	}
	return p
}

// optCase is a shared option, the value set and the kinds that have it.
type optCase struct {
	name  string
	set   any
	get   func(*dgram.Socket) bool // GetSockOpt handled it and read set back
	kinds []dgram.Kind
}

func optOf[T comparable](name string, v T, kinds ...dgram.Kind) optCase {
	get := func(s *dgram.Socket) bool {
		var got T
		return s.GetSockOpt(&got) && got == v
	}
	return optCase{name, v, get, kinds}
}

// The options each kind handles, set and read back; the others are left
// to the endpoint (false).
func TestSockOptsByKind(t *testing.T) {
	all := []dgram.Kind{dgram.Transport, dgram.RawIP, dgram.Packet}
	ip := []dgram.Kind{dgram.Transport, dgram.RawIP}
	for _, k := range kinds {
		for _, o := range []optCase{
			optOf("rcvbuf", tcpip.ReceiveBufferSizeOption(65536), all...),
			optOf("sndbuf", tcpip.SendBufferSizeOption(65536), all...),
			optOf("timestamp", tcpip.TimestampOption(true), all...),
			optOf("reuseaddr", tcpip.ReuseAddressOption(true), dgram.Transport),
			optOf("broadcast", tcpip.BroadcastOption(true), ip...),
			optOf("ttl", tcpip.TTLOption(7), ip...),
			optOf("tos", tcpip.TOSOption(0x10), ip...),
			optOf("rcvtos", tcpip.ReceiveTOSOption(true), ip...),
			optOf("rcvttl", tcpip.ReceiveTTLOption(true), ip...),
			optOf("pktinfo", tcpip.ReceivePacketInfoOption(true), ip...),
		} {
			t.Run(k.name+"/"+o.name, func(t *testing.T) {
				has := slices.Contains(o.kinds, k.kind)
				s := dgram.NewSocket(k.kind)
				if got := s.SetSockOpt(o.set); got != has {
					t.Fatalf("SetSockOpt(%T) = %v, want %v", o.set, got, has)
				}
				if got := o.get(&s); got != has {
					t.Fatalf("GetSockOpt(%T) handled and set: %v, want %v", o.set, got, has)
				}
			})
		}
	}
}

// Every kind reports the queue sizes; Transport and RawIP report
// BindToDeviceOption but leave setting it to the endpoint; options no
// kind has are left to the endpoint.
func TestSockOptsLeftToEndpoint(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := dgram.NewSocket(k.kind)
			var qs tcpip.SendQueueSizeOption = 9
			if !s.GetSockOpt(&qs) || qs != 0 {
				t.Errorf("SendQueueSizeOption = %v", qs)
			}
			var rq tcpip.ReceiveQueueSizeOption = 9
			if !s.GetSockOpt(&rq) || rq != 0 {
				t.Errorf("ReceiveQueueSizeOption = %v", rq)
			}
			if s.SetSockOpt(tcpip.BindToDeviceOption(1)) {
				t.Error("SetSockOpt(BindToDeviceOption) handled")
			}
			s.BindToDevice = 3
			var d tcpip.BindToDeviceOption
			if got, want := s.GetSockOpt(&d), k.kind != dgram.Packet; got != want || (got && d != 3) {
				t.Errorf("GetSockOpt(BindToDeviceOption) = %v (%v), want handled %v", d, got, want)
			}
			for _, o := range []any{tcpip.V6OnlyOption(true), tcpip.HeaderIncludedOption(true), tcpip.ReusePortOption(true), 42} {
				if s.SetSockOpt(o) {
					t.Errorf("SetSockOpt(%T) handled", o)
				}
			}
			var v6 tcpip.V6OnlyOption
			if s.GetSockOpt(&v6) {
				t.Error("GetSockOpt(V6OnlyOption) handled")
			}
		})
	}
}

// Buffer sizes are clamped to [MinBufferSize, MaxBufferSize] and start at
// the defaults.
func TestBufferSizes(t *testing.T) {
	s := dgram.NewSocket(dgram.Transport)
	if s.RcvBufSize != dgram.DefaultReceiveBufferSize || s.SndBufSize != dgram.DefaultSendBufferSize {
		t.Fatalf("defaults %d, %d", s.RcvBufSize, s.SndBufSize)
	}
	for _, c := range []struct{ set, want int }{
		{0, dgram.MinBufferSize},
		{-5, dgram.MinBufferSize},
		{dgram.MinBufferSize + 1, dgram.MinBufferSize + 1},
		{1 << 30, dgram.MaxBufferSize},
	} {
		s.SetSockOpt(tcpip.ReceiveBufferSizeOption(c.set))
		s.SetSockOpt(tcpip.SendBufferSizeOption(c.set))
		if s.RcvBufSize != c.want || s.SndBufSize != c.want {
			t.Errorf("set %d: got %d, %d, want %d", c.set, s.RcvBufSize, s.SndBufSize, c.want)
		}
	}
}

// Read of a Transport socket: the payload, truncated, peeked or
// dequeued, with the address and the control messages asked for.
func TestReadTransport(t *testing.T) {
	buffer.SetCounting(true)
	before := buffer.ReadStats().PacketsInUse
	clock := tcpip.NewManualClock()
	s := dgram.NewSocket(dgram.Transport)
	s.SetSockOpt(tcpip.TimestampOption(true))
	s.SetSockOpt(tcpip.ReceiveTOSOption(true))
	s.SetSockOpt(tcpip.ReceivePacketInfoOption(true))
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	ent := rcvq.Entry{
		Pkt: packetWithHeaders([]byte("hello world"), []byte("HDR")),
		Src: src, SrcPort: 53, Dst: dst, NIC: 2, TTL: 64, TOS: 0x20,
	}
	if !s.Enqueue(ent, clock) {
		t.Fatal("Enqueue refused")
	}
	var rq tcpip.ReceiveQueueSizeOption
	if s.GetSockOpt(&rq); rq != 11 {
		t.Errorf("ReceiveQueueSizeOption = %d, want 11", rq)
	}
	p := make([]byte, 5)
	res, done, err := s.Read(p, &tcpip.ReadOptions{Peek: true, NeedRemoteAddr: true}, false)
	done.Release()
	if err != nil || res.N != 5 || res.Total != 11 || string(p) != "hello" || s.Rcv.Len() != 1 {
		t.Fatalf("peek: %+v %v %q len %d", res, err, p, s.Rcv.Len())
	}
	if want := (tcpip.FullAddress{NIC: 2, Addr: src, Port: 53}); res.RemoteAddr != want {
		t.Errorf("RemoteAddr = %+v, want %+v", res.RemoteAddr, want)
	}
	c := res.Control
	if !c.HasTOS || c.TOS != 0x20 || c.HasTTL || !c.HasPacketInfo || c.LocalAddr != dst || c.NIC != 2 ||
		!c.HasTimestamp || !c.Timestamp.Equal(tcpip.ManualClockStart) {
		t.Errorf("Control = %+v", c)
	}
	p = make([]byte, 32)
	res, done, err = s.Read(p, &tcpip.ReadOptions{}, false)
	if err != nil || res.N != 11 || res.Total != 11 || !bytes.Equal(p[:11], []byte("hello world")) || s.Rcv.Len() != 0 {
		t.Fatalf("read: %+v %v %q", res, err, p)
	}
	if res.RemoteAddr != (tcpip.FullAddress{}) {
		t.Errorf("RemoteAddr %+v not asked for", res.RemoteAddr)
	}
	done.Release()
	if n := buffer.ReadStats().PacketsInUse; n != before {
		t.Errorf("%d packets in use after Release, want %d", n, before)
	}
}

// Read of RawIP and Packet sockets: headers and payload after Skip, with
// the addresses of each kind.
func TestReadHeadersAndSkip(t *testing.T) {
	clock := tcpip.NewManualClock()
	link := tcpip.LinkAddress{0x02, 0, 0, 0, 0, 0x01}
	for _, k := range kinds[1:] {
		t.Run(k.name, func(t *testing.T) {
			s := dgram.NewSocket(k.kind)
			ent := rcvq.Entry{
				Pkt:      packetWithHeaders([]byte("payload"), []byte("LINK"), []byte("IPHDR")),
				Src:      netip.MustParseAddr("fe80::1"),
				NIC:      4,
				LinkSrc:  link,
				NetProto: tcpip.IPv6ProtocolNumber,
				PktType:  buffer.PacketBroadcast,
				Skip:     6, // across the first header into the second
			}
			s.Enqueue(ent, clock)
			var rq tcpip.ReceiveQueueSizeOption
			if s.GetSockOpt(&rq); rq != 10 {
				t.Errorf("ReceiveQueueSizeOption = %d, want 10", rq)
			}
			p := make([]byte, 8)
			res, done, err := s.Read(p, &tcpip.ReadOptions{NeedRemoteAddr: true, NeedLinkPacketInfo: true}, false)
			done.Release()
			if err != nil || res.N != 8 || res.Total != 10 || string(p) != "HDRpaylo" {
				t.Fatalf("Read = %+v, %v, %q", res, err, p)
			}
			want := tcpip.FullAddress{NIC: 4, Addr: ent.Src}
			var wantInfo tcpip.LinkPacketInfo
			if k.kind == dgram.Packet {
				want = tcpip.FullAddress{NIC: 4, LinkAddr: link, Port: uint16(tcpip.IPv6ProtocolNumber)}
				wantInfo = tcpip.LinkPacketInfo{Protocol: tcpip.IPv6ProtocolNumber, PacketType: uint8(buffer.PacketBroadcast)}
			}
			if res.RemoteAddr != want || res.LinkPacketInfo != wantInfo {
				t.Errorf("RemoteAddr %+v, LinkPacketInfo %+v; want %+v, %+v", res.RemoteAddr, res.LinkPacketInfo, want, wantInfo)
			}
			if res.Control != (tcpip.ControlMessages{}) {
				t.Errorf("Control = %+v, none asked for", res.Control)
			}
		})
	}
}

// An empty queue gives ErrWouldBlock, or ErrClosedForReceive once closed
// or shut for reading; a pending error comes first and is cleared.
func TestReadErrors(t *testing.T) {
	s := dgram.NewSocket(dgram.Transport)
	for _, peek := range []bool{false, true} {
		opts := tcpip.ReadOptions{Peek: peek}
		if _, _, err := s.Read(nil, &opts, false); err != tcpip.ErrWouldBlock {
			t.Errorf("peek %v: empty: %v", peek, err)
		}
		if _, _, err := s.Read(nil, &opts, true); err != tcpip.ErrClosedForReceive {
			t.Errorf("peek %v: closed: %v", peek, err)
		}
	}
	s.Shutdown = tcpip.ShutdownRead
	if _, _, err := s.Read(nil, &tcpip.ReadOptions{}, false); err != tcpip.ErrClosedForReceive {
		t.Errorf("shut: %v", err)
	}
	s.Shutdown = 0
	s.Enqueue(rcvq.Entry{Pkt: buffer.NewPacketFromBytes(0, []byte("x"))}, tcpip.NewManualClock())
	s.Err = tcpip.ErrConnectionRefused
	if _, _, err := s.Read(nil, &tcpip.ReadOptions{}, false); err != tcpip.ErrConnectionRefused {
		t.Errorf("pending error: %v", err)
	}
	if s.Err != nil || s.Rcv.Len() != 1 {
		t.Errorf("after reporting: Err %v, %d queued", s.Err, s.Rcv.Len())
	}
	res, done, err := s.Read(nil, &tcpip.ReadOptions{}, false)
	done.Release()
	if err != nil || res.N != 0 || res.Total != 1 {
		t.Errorf("Read into empty p = %+v, %v", res, err)
	}
	s.Err = tcpip.ErrHostUnreachable
	if err := s.TakeErr(); err != tcpip.ErrHostUnreachable || s.TakeErr() != nil {
		t.Errorf("TakeErr = %v", err)
	}
}

// Enqueue stamps only with TimestampOption set and refuses once the
// buffer is full, leaving the packet to the caller.
func TestEnqueue(t *testing.T) {
	clock := tcpip.NewManualClock()
	clock.Advance(time.Hour)
	s := dgram.NewSocket(dgram.Transport)
	s.Enqueue(rcvq.Entry{Pkt: buffer.NewPacketFromBytes(0, nil)}, clock)
	if f := s.Rcv.Front(); !f.Timestamp.IsZero() {
		t.Errorf("stamped %v without TimestampOption", f.Timestamp)
	}
	s.Timestamp = true
	s.RcvBufSize = 1
	s.Rcv.Clear()
	if !s.Enqueue(rcvq.Entry{Pkt: buffer.NewPacketFromBytes(0, nil)}, clock) {
		t.Fatal("empty queue refused a datagram")
	}
	if f := s.Rcv.Front(); !f.Timestamp.Equal(tcpip.ManualClockStart.Add(time.Hour)) {
		t.Errorf("Timestamp = %v", f.Timestamp)
	}
	p := buffer.NewPacketFromBytes(0, nil)
	if s.Enqueue(rcvq.Entry{Pkt: p}, clock) {
		t.Fatal("full queue took a datagram")
	}
	p.Release()
	s.Rcv.Clear()
}

func TestReadiness(t *testing.T) {
	const (
		in, out, hup, rdhup, errEv = tcpip.EventIn, tcpip.EventOut, tcpip.EventHUp, tcpip.EventRdHUp, tcpip.EventErr
	)
	both := tcpip.ShutdownRead | tcpip.ShutdownWrite
	for _, c := range []struct {
		name     string
		kind     dgram.Kind
		closed   bool
		queued   bool
		shutdown tcpip.ShutdownFlags
		err      error
		want     tcpip.Events
	}{
		{"idle", dgram.Transport, false, false, 0, nil, out},
		{"queued", dgram.RawIP, false, true, 0, nil, out | in},
		{"shut read", dgram.Transport, false, false, tcpip.ShutdownRead, nil, out | in | rdhup},
		{"shut write", dgram.Transport, false, false, tcpip.ShutdownWrite, nil, out},
		{"shut both", dgram.Transport, false, false, both, nil, out | in | rdhup | hup},
		{"packet shut both", dgram.Packet, false, false, both, nil, out | in | rdhup | hup},
		{"error", dgram.Transport, false, false, 0, tcpip.ErrConnectionRefused, out | errEv},
		{"closed", dgram.Transport, true, true, both, tcpip.ErrConnectionRefused, out | in | hup},
		{"packet closed", dgram.Packet, true, false, 0, nil, out | in | hup},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := dgram.NewSocket(c.kind)
			if c.queued {
				s.Enqueue(rcvq.Entry{Pkt: buffer.NewPacketFromBytes(0, nil)}, tcpip.NewManualClock())
				defer s.Rcv.Clear()
			}
			s.Shutdown, s.Err = c.shutdown, c.err
			if got := s.Readiness(c.closed); got != c.want {
				t.Errorf("Readiness = %v, want %v", got, c.want)
			}
		})
	}
}

func TestDevice(t *testing.T) {
	s := dgram.NewSocket(dgram.Transport)
	if d := s.Device(); d != 0 {
		t.Errorf("Device = %d, want 0", d)
	}
	s.BindNIC = 2
	if d := s.Device(); d != 2 {
		t.Errorf("Device = %d, want BindNIC 2", d)
	}
	s.BindToDevice = 3
	if d := s.Device(); d != 3 {
		t.Errorf("Device = %d, want BindToDevice 3", d)
	}
}

// Reading a queued datagram, peeked or dequeued, allocates nothing
// (DESIGN.md principle 7).
func TestReadAllocs(t *testing.T) {
	clock := tcpip.NewManualClock()
	s := dgram.NewSocket(dgram.RawIP)
	s.Timestamp, s.RcvPktInfo = true, true
	p := make([]byte, 64)
	opts := tcpip.ReadOptions{NeedRemoteAddr: true}
	peek := tcpip.ReadOptions{Peek: true, NeedRemoteAddr: true}
	ent := rcvq.Entry{Pkt: packetWithHeaders(make([]byte, 100), make([]byte, 20))}
	n := testing.AllocsPerRun(100, func() {
		if !s.Enqueue(ent, clock) {
			t.Fatal("Enqueue refused")
		}
		if _, done, err := s.Read(p, &peek, false); err != nil {
			t.Fatal(err)
		} else {
			done.Release()
		}
		// Dequeue without releasing: the same packet is queued again.
		if _, _, err := s.Read(p, &opts, false); err != nil {
			t.Fatal(err)
		}
	})
	ent.Pkt.Release()
	if n != 0 {
		t.Errorf("%v allocations per enqueue and read, want 0", n)
	}
}
