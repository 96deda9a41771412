package udp_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/channel"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/udp"
)

// channelHost is a stack with one NIC on a channel link, whose queue holds
// what is written until the test reads it: the datagrams stay charged to
// their endpoints' send buffers until then.
func channelHost(t *testing.T, queue int) (*stack.Stack, *channel.Endpoint) {
	t.Helper()
	leakcheck.Check(t)
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
	})
	t.Cleanup(s.Close)
	link := channel.New(channel.Config{QueueSize: queue})
	if err := s.CreateNIC(1, link); err != nil {
		t.Fatal(err)
	}
	pa := tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.PrefixFrom(addrA, 24)}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: pa.Address.Masked(), NIC: 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Drain() })
	return s, link
}

// connectedUDP returns an endpoint of s connected to addrB:9.
func connectedUDP(t *testing.T, s *stack.Stack) tcpip.Endpoint {
	t.Helper()
	ep := newUDP(t, s)
	if err := ep.Connect(tcpip.FullAddress{Addr: addrB, Port: 9}); err != nil {
		t.Fatal(err)
	}
	return ep
}

// readLink takes the next packet off the link and releases it.
func readLink(t *testing.T, link *channel.Endpoint) {
	t.Helper()
	pkt, ok := link.Read()
	if !ok {
		t.Fatal("no packet on the link")
	}
	pkt.Release()
}

// notified reports whether w has a notification, without waiting: the
// releases that wake writers run synchronously in Release.
func notified(w tcpip.ChannelWaiter) bool {
	select {
	case <-w:
		return true
	default:
		return false
	}
}

// TestSendBufferBlocks fills the send buffer with datagrams the link holds:
// Write then refuses with ErrWouldBlock and the endpoint is not writable;
// EventOut comes once the link has let go of half the buffer's worth, and
// not before, and Write succeeds again.
func TestSendBufferBlocks(t *testing.T) {
	s, link := channelHost(t, 1<<16)
	ep := connectedUDP(t, s)
	if err := ep.SetSockOpt(tcpip.SendBufferSizeOption(16 << 10)); err != nil {
		t.Fatal(err)
	}
	var sb tcpip.SendBufferSizeOption
	if err := ep.GetSockOpt(&sb); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 100)
	written := 0
	for {
		_, err := ep.Write(msg, tcpip.WriteOptions{})
		if errors.Is(err, tcpip.ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatalf("Write %d: %v", written, err)
		}
		if written++; written > int(sb) {
			t.Fatalf("%d datagrams of %d bytes written into a send buffer of %d", written, len(msg), sb)
		}
	}
	if written < 2 || link.Len() != written {
		t.Fatalf("%d datagrams written, %d on the link", written, link.Len())
	}
	if ep.Readiness(tcpip.EventOut) != 0 {
		t.Error("writable with a full send buffer")
	}
	w := tcpip.NewChannelWaiter()
	h := ep.WaitQueue().Register(w, tcpip.EventOut)
	defer ep.WaitQueue().Unregister(h)
	freed := 0
	for !notified(w) {
		if ep.Readiness(tcpip.EventOut) != 0 {
			t.Fatalf("writable after %d of %d datagrams left the link, without EventOut", freed, written)
		}
		readLink(t, link)
		if freed++; freed == written {
			t.Fatal("no EventOut when the link let go of every datagram")
		}
	}
	// Half the buffer: about half the datagrams, the rest still held.
	if freed < written/3 || freed > 2*written/3+1 {
		t.Errorf("EventOut after %d of %d datagrams left the link, want about half", freed, written)
	}
	if ep.Readiness(tcpip.EventOut) == 0 {
		t.Error("not writable after EventOut")
	}
	if _, err := ep.Write(msg, tcpip.WriteOptions{}); err != nil {
		t.Errorf("Write after EventOut: %v", err)
	}
}

// TestFullLinkBlocks fills a link's queue: a writer whose datagram the link
// holds waits (ErrWouldBlock, EventOut when the link lets go of it); a
// writer with nothing on the link gets ErrNoBufferSpace, since no release
// of its own would wake it.
func TestFullLinkBlocks(t *testing.T) {
	s, link := channelHost(t, 1)
	ep := connectedUDP(t, s)
	other := connectedUDP(t, s)
	msg := []byte("datagram")
	if _, err := ep.Write(msg, tcpip.WriteOptions{}); err != nil {
		t.Fatalf("first Write: %v", err)
	}
	if _, err := ep.Write(msg, tcpip.WriteOptions{}); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("Write to a full link holding our datagram: %v, want ErrWouldBlock", err)
	}
	if ep.Readiness(tcpip.EventOut) != 0 {
		t.Error("writable while waiting for the link")
	}
	if _, err := other.Write(msg, tcpip.WriteOptions{}); !errors.Is(err, tcpip.ErrNoBufferSpace) {
		t.Fatalf("Write to a full link holding none of ours: %v, want ErrNoBufferSpace", err)
	}
	w := tcpip.NewChannelWaiter()
	h := ep.WaitQueue().Register(w, tcpip.EventOut)
	defer ep.WaitQueue().Unregister(h)
	readLink(t, link)
	if !notified(w) {
		t.Fatal("no EventOut when the link let go of the datagram")
	}
	if ep.Readiness(tcpip.EventOut) == 0 {
		t.Error("not writable after EventOut")
	}
	if _, err := ep.Write(msg, tcpip.WriteOptions{}); err != nil {
		t.Errorf("Write after EventOut: %v", err)
	}
	if got := s.Stats().UDP.SendErrors.Load(); got != 1 {
		t.Errorf("SendErrors = %d, want 1 (the datagram lost with ENOBUFS)", got)
	}
}
