package gonet_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/tcpip"
)

func TestPing(t *testing.T) {
	a, b := hosts(t)
	replies, err := gonet.Ping(t.Context(), a, addrB, gonet.PingOptions{Count: 3, Interval: 10 * time.Millisecond, Size: 1000})
	if err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if len(replies) != 3 {
		t.Fatalf("got %d replies, want 3", len(replies))
	}
	for i, r := range replies {
		if r.Seq != uint16(i+1) || r.From != addrB || r.Size != 1000 || r.RTT <= 0 {
			t.Errorf("reply %d = %+v; want seq %d from %v, 1000 bytes, RTT > 0", i, r, i+1, addrB)
		}
	}
	// B counts a reply once its link took it, which may be after A has
	// already read it: wait for the counter rather than race it.
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().ICMPv4.Sent.EchoReply.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := b.Stats().ICMPv4.Sent.EchoReply.Load(); got != 3 {
		t.Errorf("B sent %d echo replies, want 3", got)
	}
}

func TestPingLargeFragmented(t *testing.T) {
	a, _ := hosts(t)
	// 3000 bytes over a 1500-byte MTU: both the request and the reply
	// are fragmented and reassembled.
	replies, err := gonet.Ping(t.Context(), a, addrB, gonet.PingOptions{Size: 3000, Data: []byte{0xde, 0xad}})
	if err != nil || len(replies) != 1 || replies[0].Size != 3000 {
		t.Fatalf("Ping = %+v, %v; want one 3000-byte reply", replies, err)
	}
}

func TestPingTimeout(t *testing.T) {
	a, _ := hosts(t)
	start := time.Now()
	replies, err := gonet.Ping(t.Context(), a, addrAbsent, gonet.PingOptions{Count: 2, Interval: time.Millisecond, Timeout: 100 * time.Millisecond})
	if len(replies) != 0 {
		t.Errorf("got replies %+v from nobody", replies)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "ping" || oe.Net != "ip4:icmp" || oe.Addr.String() != addrAbsent.String() {
		t.Fatalf("Ping error %#v, want a *net.OpError ping ip4:icmp to %v", err, addrAbsent)
	}
	if !errors.Is(err, tcpip.ErrTimeout) || !errors.Is(err, syscall.ETIMEDOUT) || !oe.Timeout() {
		t.Errorf("Ping error %v, want a timeout (ETIMEDOUT)", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("Ping gave up after %v, before two timeouts of 100ms", d)
	}
}

func TestPingContextCanceled(t *testing.T) {
	a, _ := hosts(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := gonet.Ping(ctx, a, addrAbsent, gonet.PingOptions{Timeout: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > quick {
		t.Errorf("Ping returned after %v", d)
	}
}

func TestPinger(t *testing.T) {
	a, _ := hosts(t)
	p, err := gonet.NewPinger(a, addrB, gonet.PingOptions{Size: -1, TTL: 3})
	if err != nil {
		t.Fatalf("NewPinger: %v", err)
	}
	if p.ID() == 0 {
		t.Errorf("ID() = 0, want the ephemeral Identifier")
	}
	for _, seq := range []uint16{7, 0, 65535} {
		r, err := p.Ping(t.Context(), seq)
		if err != nil || r.Seq != seq || r.Size != 0 {
			t.Errorf("Ping(seq %d) = %+v, %v", seq, r, err)
		}
	}
	// Close releases a Ping in progress.
	p2, err := gonet.NewPinger(a, addrAbsent, gonet.PingOptions{Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p2.Ping(context.Background(), 1)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Ping after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(quick):
		t.Fatal("Close did not release Ping")
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := p.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
}

func TestPingManualClock(t *testing.T) {
	// RTTs are measured on the stack's clock: under a manual clock that
	// nobody advances, an answered ping takes no time at all.
	a, _ := hostsWithClock(t, tcpip.NewManualClock())
	replies, err := gonet.Ping(t.Context(), a, addrB, gonet.PingOptions{})
	if err != nil || len(replies) != 1 || replies[0].RTT != 0 {
		t.Fatalf("Ping = %+v, %v; want one reply with RTT 0", replies, err)
	}
}
