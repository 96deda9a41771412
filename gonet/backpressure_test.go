package gonet_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
	"github.com/ustack-go/ustack/transport/udp"
)

// TestTCPTinyLinkQueue sends 4 MiB over a pipe whose queues hold 4
// frames: the link refuses most of the window, and TCP must take that as
// backpressure (wait for the next ACK) rather than as loss, so the
// transfer completes without a segment taken as lost.
func TestTCPTinyLinkQueue(t *testing.T) {
	la, lb := pipe.New(pipe.Config{QueueSize: 4})
	a := streamHost(t, la, addrA, tcp.NewProtocol)
	b := streamHost(t, lb, addrB, tcp.NewProtocol)
	client, server := tcpPair(t, a, b, 5001)
	deadline := time.Now().Add(time.Minute)
	client.SetDeadline(deadline)
	server.SetDeadline(deadline)

	const size = 4 << 20
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	if _, err := client.Write(want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	client.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("received %d bytes, not the %d written", len(b), size)
	}
	if la.Stats().TxQueueFull.Load() == 0 {
		t.Error("the link never refused a frame: the test did not exercise backpressure")
	}
	// Tail loss probes (RFC 8985 §7) are sent on a timer when ACKs are
	// slow to come, as they may be on a busy machine with the real
	// clock, and a stall longer than the RTO makes a timeout that the
	// D-SACK or the timestamps then show spurious (RFC 3522, RFC 5682):
	// neither is a refused frame taken as lost. One would show as a
	// fast retransmission, a RACK loss or a genuine timeout.
	for name, s := range map[string]*stack.Stack{"client": a, "server": b} {
		st := &s.Stats().TCP
		r, tlp, rto := st.Retransmits.Load(), st.TLPProbes.Load(), st.Timeouts.Load()
		if r > tlp+rto || st.FastRetransmits.Load() != 0 || st.RACKLost.Load() != 0 || rto != st.SpuriousRTORecovery.Load() {
			t.Errorf("%s: %d retransmissions (fast %d, TLP probes %d, RACK lost %d), %d timeouts (%d spurious); want only probes and spurious timeouts",
				name, r, st.FastRetransmits.Load(), tlp, st.RACKLost.Load(), rto, st.SpuriousRTORecovery.Load())
			t.Logf("client's counters:\n%v\nserver's counters:\n%v", a.Stats().Snapshot().NonZero(), b.Stats().Snapshot().NonZero())
		}
	}
}

// TestUDPWriteWaitsForLink writes datagrams much faster than the far end
// delivers them: the writer waits for the link instead of losing
// datagrams, and every datagram arrives, in order.
func TestUDPWriteWaitsForLink(t *testing.T) {
	la, lb := pipe.New(pipe.Config{QueueSize: 16})
	a := streamHost(t, la, addrA, udp.NewProtocol)
	b := streamHost(t, lb, addrB, udp.NewProtocol)
	srv, err := gonet.ListenUDP(b, netip.AddrPortFrom(addrB, 9), tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := gonet.DialUDP(a, netip.AddrPort{}, netip.AddrPortFrom(addrB, 9), tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(time.Minute)
	c.SetDeadline(deadline)
	srv.SetDeadline(deadline)
	// The server's buffer must hold what the client's send buffer lets
	// into the link, so that no datagram is lost at the receiver either:
	// give it twice the client's.
	var sb tcpip.SendBufferSizeOption
	if err := c.GetSockOpt(&sb); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetSockOpt(tcpip.ReceiveBufferSizeOption(2 * sb)); err != nil {
		t.Fatal(err)
	}

	// One datagram first, to resolve the link addresses: datagrams
	// waiting for ARP are not what this test is about.
	buf := make([]byte, 64)
	if _, err := c.Write([]byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Read(buf); err != nil {
		t.Fatal(err)
	}

	const n = 5000
	done := make(chan error, 1)
	go func() {
		for i := range n {
			k, err := srv.Read(buf)
			if err != nil {
				done <- err
				return
			}
			if k != 8 || int(buf[0])|int(buf[1])<<8 != i&0xffff {
				done <- errors.New("datagram out of order or corrupt")
				return
			}
		}
		done <- nil
	}()
	msg := make([]byte, 8)
	for i := range n {
		msg[0], msg[1] = byte(i), byte(i>>8)
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	if la.Stats().TxQueueFull.Load() == 0 {
		t.Error("the link never refused a datagram: the test did not exercise backpressure")
	}
	if e := a.Stats().UDP.SendErrors.Load(); e != 0 {
		t.Errorf("%d send errors", e)
	}
	if e := b.Stats().UDP.ReceiveBufferErrors.Load(); e != 0 {
		t.Errorf("%d datagrams lost at the receiver", e)
	}
}

// TestUDPWriteWaitsForReader: over a pipe a datagram is charged to its
// writer until the far socket reads it, so a blocking Write to a socket
// that does not read waits (here until its deadline) once SO_SNDBUF is in
// flight, and every datagram it wrote is then there to read, in order.
func TestUDPWriteWaitsForReader(t *testing.T) {
	la, lb := pipe.New(pipe.Config{QueueSize: 4096})
	a := streamHost(t, la, addrA, udp.NewProtocol)
	b := streamHost(t, lb, addrB, udp.NewProtocol)
	srv, err := gonet.ListenUDP(b, netip.AddrPortFrom(addrB, 9), tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := gonet.DialUDP(a, netip.AddrPort{}, netip.AddrPortFrom(addrB, 9), tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 64)
	if _, err := c.Write([]byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Read(buf); err != nil {
		t.Fatal(err)
	}

	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	msg := make([]byte, 8)
	written := 0
	for ; ; written++ {
		msg[0], msg[1] = byte(written), byte(written>>8)
		if _, err = c.Write(msg); err != nil {
			break
		}
		if written > udp.DefaultSendBufferSize/512 {
			t.Fatalf("%d datagrams written to a socket that reads nothing, more than SO_SNDBUF holds", written)
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write %d: %v, want a timeout", written, err)
	}
	if written == 0 {
		t.Fatal("the first Write timed out")
	}
	for i := range written {
		n, err := srv.Read(buf)
		if err != nil {
			t.Fatalf("Read %d of %d: %v", i, written, err)
		}
		if n != 8 || int(buf[0])|int(buf[1])<<8 != i {
			t.Fatalf("datagram %d out of order or corrupt", i)
		}
	}
	srv.SetReadDeadline(time.Now())
	if n, err := srv.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after the %d written = %d, %v; want a timeout", written, n, err)
	}
	if e := b.Stats().UDP.ReceiveBufferErrors.Load(); e != 0 {
		t.Errorf("%d datagrams lost at the receiver", e)
	}
}
