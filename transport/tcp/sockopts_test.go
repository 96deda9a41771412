package tcp_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

func TestSockOptsRoundTrip(t *testing.T) {
	e := newEnv(t, false)
	ep := newTCP(t, e.a)
	for _, c := range []struct{ set, get any }{
		{tcpip.ReuseAddressOption(true), new(tcpip.ReuseAddressOption)},
		{tcpip.ReusePortOption(true), new(tcpip.ReusePortOption)},
		{tcpip.KeepAliveOption(true), new(tcpip.KeepAliveOption)},
		{tcpip.KeepaliveIdleOption(30 * time.Second), new(tcpip.KeepaliveIdleOption)},
		{tcpip.KeepaliveIntervalOption(5 * time.Second), new(tcpip.KeepaliveIntervalOption)},
		{tcpip.KeepaliveCountOption(4), new(tcpip.KeepaliveCountOption)},
		{tcpip.UserTimeoutOption(time.Minute), new(tcpip.UserTimeoutOption)},
		{tcpip.SendBufferSizeOption(65536), new(tcpip.SendBufferSizeOption)},
		{tcpip.ReceiveBufferSizeOption(65536), new(tcpip.ReceiveBufferSizeOption)},
		{tcpip.DelayOption(false), new(tcpip.DelayOption)},
		{tcpip.CorkOption(true), new(tcpip.CorkOption)},
		{tcpip.QuickAckOption(true), new(tcpip.QuickAckOption)},
		{tcpip.MaxSegOption(1000), new(tcpip.MaxSegOption)},
		{tcpip.CongestionControlOption("newreno"), new(tcpip.CongestionControlOption)},
		{tcpip.LingerOption{Enabled: true, Timeout: time.Second}, new(tcpip.LingerOption)},
		{tcpip.TTLOption(9), new(tcpip.TTLOption)},
		{tcpip.TOSOption(0x10), new(tcpip.TOSOption)},
		{tcpip.BindToDeviceOption(1), new(tcpip.BindToDeviceOption)},
	} {
		if err := ep.SetSockOpt(c.set); err != nil {
			t.Fatalf("SetSockOpt(%T): %v", c.set, err)
		}
		if err := ep.GetSockOpt(c.get); err != nil {
			t.Fatalf("GetSockOpt(%T): %v", c.get, err)
		}
		if got := reflect.ValueOf(c.get).Elem().Interface(); got != c.set {
			t.Fatalf("%T: got %v, set %v", c.set, got, c.set)
		}
	}
	for _, bad := range []any{
		tcpip.CongestionControlOption("nope"), tcpip.KeepaliveCountOption(0),
		tcpip.MaxSegOption(10), tcpip.KeepaliveIdleOption(0),
	} {
		if err := ep.SetSockOpt(bad); !errors.Is(err, tcpip.ErrInvalidOptionValue) {
			t.Fatalf("SetSockOpt(%T %v) = %v", bad, bad, err)
		}
	}
	if err := ep.SetSockOpt(tcpip.BroadcastOption(true)); !errors.Is(err, tcpip.ErrUnknownProtocolOption) {
		t.Fatalf("SetSockOpt(Broadcast) = %v", err)
	}
}

// MaxSegOption lowers the MSS a SYN announces; TTL and the congestion
// control choice are inherited by accepted connections.
func TestMaxSegAndInheritance(t *testing.T) {
	e := newEnv(t, true)
	l := newTCP(t, e.b)
	for _, o := range []any{tcpip.MaxSegOption(1000), tcpip.TTLOption(7), tcpip.CongestionControlOption("newreno")} {
		if err := l.SetSockOpt(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Bind(tcpip.FullAddress{Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(4); err != nil {
		t.Fatal(err)
	}
	c := newTCP(t, e.a)
	if err := c.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	e.pump()
	s := accept(t, l)
	if in := info(t, c); in.SndMSS != 1000-12 {
		t.Fatalf("client SndMSS %d", in.SndMSS)
	}
	if in := info(t, s); in.RcvMSS != 1000 || in.CongestionControl != "newreno" {
		t.Fatalf("server info %+v", in)
	}
	var ttl tcpip.TTLOption
	if err := s.GetSockOpt(&ttl); err != nil || ttl != 7 {
		t.Fatalf("TTL %d, %v", ttl, err)
	}
}

// countingCC is a congestion control registered by a test: NewReno that
// counts its calls.
type countingCC struct {
	tcp.CongestionControl
	acks *int
}

func (c countingCC) Name() string { return "counting" }
func (c countingCC) OnAck(acked, inflight int, rtt time.Duration) {
	*c.acks++
	c.CongestionControl.OnAck(acked, inflight, rtt)
}

func TestCongestionControlPluggable(t *testing.T) {
	acks := 0
	tcp.RegisterCongestionControl("counting", func(mss int) tcp.CongestionControl {
		return countingCC{CongestionControl: tcp.NewNewReno(mss), acks: &acks}
	})
	e := newEnv(t, true)
	l := listen(t, e.b, addrB, 80, 1)
	c := newTCP(t, e.a)
	if err := c.SetSockOpt(tcpip.CongestionControlOption("counting")); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	e.pump()
	s := accept(t, l)
	transfer(t, e, c, s, make([]byte, 100000))
	if acks == 0 {
		t.Fatal("the registered algorithm saw no ACK")
	}
	if in := info(t, c); in.CongestionControl != "counting" || in.Cwnd <= 10*in.SndMSS {
		t.Fatalf("info %+v", in)
	}
	found := false
	for _, n := range tcp.CongestionControls() {
		found = found || n == "counting"
	}
	if !found {
		t.Fatalf("CongestionControls() = %v", tcp.CongestionControls())
	}
}
