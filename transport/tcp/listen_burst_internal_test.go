package tcp

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
)

// TestListenBurstSegmentsQueuedBeforePromotion opens 200 connections at
// once to one listener whose queues hold them all, each client sending a
// request right after its handshake. The listener is kept busy (its lock
// held, as by another goroutine's segment or an Accept) while the
// handshake-completing ACKs and the requests arrive: the demuxer finds no
// connection for their 4-tuples yet, so all of them wait in the
// listener's backlog. When the listener drains it, the ACK of each
// connection promotes the half-open entry and registers the child; the
// request behind it must reach the child rather than be taken for a bad
// SYN cookie and answered with RST (the interop failure of
// TestInteropTCPConcurrent: "Connection reset by peer").
func TestListenBurstSegmentsQueuedBeforePromotion(t *testing.T) {
	for _, reqs := range []int{1, 2} {
		t.Run(fmt.Sprintf("requests=%d", reqs), func(t *testing.T) { testListenBurst(t, reqs) })
	}
}

// testListenBurst runs the burst with reqs requests (data segments) from
// each client behind its handshake-completing ACK.
func testListenBurst(t *testing.T, reqs int) {
	const n = 200
	testnet.CheckBuffers(t)
	clock := tcpip.NewManualClock()
	hub := testnet.NewHub(clock)
	t.Cleanup(hub.Close)
	opts := testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		Transports: []stack.TransportProtocolFactory{NewProtocol},
	}
	addrA, addrB := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	a, b := hub.NewStack(t, opts), hub.NewStack(t, opts)
	hub.AddNIC(t, a, 1, netip.PrefixFrom(addrA, 24), testnet.NICOptions{})
	hub.AddNIC(t, b, 1, netip.PrefixFrom(addrB, 24), testnet.NICOptions{})
	if err := b.SetTransportProtocolOption(ProtocolNumber, SYNQueueSizeOption(1024)); err != nil {
		t.Fatal(err)
	}
	newEP := func(s *stack.Stack) tcpip.Endpoint {
		ep, err := s.NewEndpoint(ProtocolNumber, tcpip.IPv4ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ep.Close)
		return ep
	}
	ln := newEP(b)
	if err := ln.Bind(tcpip.FullAddress{Addr: addrB, Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := ln.Listen(1024); err != nil {
		t.Fatal(err)
	}
	le := ln.(*endpoint)

	clients := make([]tcpip.Endpoint, n)
	for i := range clients {
		clients[i] = newEP(a)
		if err := clients[i].Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
			t.Fatalf("client %d: Connect = %v", i, err)
		}
	}
	// The SYNs arrive together: the listener answers them all from its
	// backlog.
	le.lock()
	hub.Pump()
	le.unlock()
	// The SYN-ACKs reach the clients, whose ACKs and requests queue
	// behind the busy listener.
	le.lock()
	request := func(port uint16) string { return fmt.Sprintf("GET /%d HTTP/1.1\r\n\r\n", port) }
	hub.Pump()
	for r := range reqs {
		for i, c := range clients {
			la, err := c.LocalAddress()
			if err != nil {
				le.unlock()
				t.Fatal(err)
			}
			p := []byte(request(la.Port))
			if nw, err := c.Write(p, tcpip.WriteOptions{}); err != nil || nw != len(p) {
				le.unlock()
				t.Fatalf("client %d: Write %d = %d, %v", i, r, nw, err)
			}
		}
		// The first request leaves at once; Nagle holds the second
		// until the first is acknowledged, after the listener's
		// backlog is drained.
		hub.Pump()
	}
	le.bmu.Lock()
	queued := le.backlogLenLocked()
	le.bmu.Unlock()
	le.unlock()
	hub.Pump()
	if queued < 2*n {
		t.Fatalf("%d segments queued for the listener, want at least %d", queued, 2*n)
	}
	t.Logf("%d segments queued for the busy listener", queued)

	buf := make([]byte, 1024)
	for range n {
		c, from, err := ln.Accept()
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		t.Cleanup(c.Close)
		var got []byte
		for {
			res, err := c.Read(buf, tcpip.ReadOptions{})
			if errors.Is(err, tcpip.ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatalf("Read from %v: %v", from, err)
			}
			got = append(got, buf[:res.N]...)
		}
		want := ""
		for range reqs {
			want += request(from.Port)
		}
		if string(got) != want {
			t.Errorf("requests from %v = %q, want %q", from, got, want)
		}
	}
	if _, _, err := ln.Accept(); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Errorf("Accept after %d connections = %v, want ErrWouldBlock", n, err)
	}
	for i, c := range clients {
		var in InfoOption
		if err := c.GetSockOpt(&in); err != nil {
			t.Fatal(err)
		}
		if in.State != StateEstablished {
			t.Errorf("client %d: state %v, want established", i, in.State)
		}
	}
	for _, s := range []*stack.Stack{a, b} {
		st := &s.Stats().TCP
		if v := st.ResetsSent.Load(); v != 0 {
			t.Errorf("ResetsSent = %d, want 0", v)
		}
		if v := st.SYNCookiesInvalid.Load(); v != 0 {
			t.Errorf("SYNCookiesInvalid = %d, want 0", v)
		}
		if v := st.SYNCookiesSent.Load(); v != 0 {
			t.Errorf("SYNCookiesSent = %d, want 0", v)
		}
	}
}
