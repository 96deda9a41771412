package gonet_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/transport/tcp"
)

// TestTCPConnInfo reads the Info of a gonet connection of the TCP engine
// after a transfer: the bytes acknowledged, an RTT, and a report that
// names what limits the connection.
func TestTCPConnInfo(t *testing.T) {
	for _, impl := range streamImpls {
		if impl.name != "tcp" {
			continue
		}
		a, b := streamHosts(t, impl)
		client, server := tcpPair(t, a, b, 80)
		const n = 200 << 10
		go func() {
			_, _ = client.Write(make([]byte, n))
		}()
		if _, err := io.ReadFull(server, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		in, err := server.Info()
		if err != nil {
			t.Fatal(err)
		}
		if in.State != tcp.StateEstablished || in.BytesReceived != n {
			t.Fatalf("server Info: %+v", in)
		}
		in, err = client.Info()
		if err != nil {
			t.Fatal(err)
		}
		if in.Cwnd <= 0 || in.BytesAcked > n || !strings.Contains(in.String(), "limited by ") {
			t.Fatalf("client Info:\n%s", in)
		}
		client.Close()
		if _, err := client.Info(); err == nil {
			t.Error("Info of a closed TCPConn succeeded")
		}
	}
}

// TestTCPProbeConcurrent runs a bulk echo with a probe on both stacks
// that reads the connection's Info from the callback, while goroutines
// write and read: segments queued in the backlog of a busy endpoint are
// probed too, and the probe calling into the endpoint does not deadlock
// (run with -race).
func TestTCPProbeConcurrent(t *testing.T) {
	for _, impl := range streamImpls {
		if impl.name != "tcp" {
			continue
		}
		a, b := streamHosts(t, impl)
		var calls atomic.Int64
		var client *gonet.TCPConn
		var ready atomic.Bool
		probe := func(st stack.TCPEndpointState) {
			calls.Add(1)
			if ready.Load() && st.ID.RemotePort == client.LocalAddrPort().Port() {
				if _, err := client.Info(); err != nil && !errors.Is(err, net.ErrClosed) {
					t.Error(err)
				}
			}
		}
		a.AddTCPProbe(probe)
		b.AddTCPProbe(probe)
		l := tcpListen(t, b, 7)
		serveTCP(t, l, echoTCP)
		client = tcpDial(t, a, netip.AddrPortFrom(addrB, 7))
		ready.Store(true)
		const n = 1 << 20
		go func() {
			_, _ = client.Write(make([]byte, n))
		}()
		if _, err := io.ReadFull(client, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		ready.Store(false)
		a.RemoveTCPProbe()
		b.RemoveTCPProbe()
		segs := counterOf(a, "TCP.SegmentsReceived") + counterOf(b, "TCP.SegmentsReceived")
		if got := calls.Load(); got == 0 || uint64(got) > segs {
			t.Errorf("probe called %d times for %d segments received", got, segs)
		}
	}
}

// counterOf reads a counter of s's stats.
func counterOf(s *stack.Stack, name string) uint64 {
	v, _ := s.Stats().Snapshot().Get(name)
	return v
}
