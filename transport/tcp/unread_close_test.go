package tcp_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// unreadTail connects A to B, has A half-close, and B send size bytes and
// close its side; A reads nothing yet. It returns A's endpoint and the
// bytes B sent, once A has taken B's FIN.
func unreadTail(t *testing.T, e *env, size int) (tcpip.Endpoint, []byte) {
	t.Helper()
	cli, srv, _ := e.connectPair()
	if err := cli.Shutdown(tcpip.ShutdownWrite); err != nil {
		t.Fatal(err)
	}
	e.pump()
	// One write queues it all, and A's receive buffer holds it unread.
	if err := srv.SetSockOpt(tcpip.SendBufferSizeOption(size)); err != nil {
		t.Fatal(err)
	}
	if err := cli.SetSockOpt(tcpip.ReceiveBufferSizeOption(size)); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	write(t, srv, data)
	if err := srv.Shutdown(tcpip.ShutdownWrite); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Second)
	return cli, data
}

// readRest reads ep in reads of n bytes to the end of the stream.
func readRest(t *testing.T, e *env, ep tcpip.Endpoint, n int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, n)
	for {
		res, err := ep.Read(buf, tcpip.ReadOptions{})
		if errors.Is(err, tcpip.ErrClosedForReceive) {
			return got
		}
		if err != nil {
			t.Fatalf("Read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:res.N]...)
		e.pump()
	}
}

// TestUnreadDataOutlivesTimeWait: the active closer's reader is behind
// when the connection completes. Regression (Linux interop, 4 MiB echo
// ending with a clean EOF and its last bytes missing): reading opened the
// window and sent an update from TIME-WAIT; the peer, already CLOSED,
// answered with an RST, which took the connection to CLOSED and with it
// released the unread data, so that Read reported the end of the stream.
func TestUnreadDataOutlivesTimeWait(t *testing.T) {
	e := newEnv(t, true)
	cli, data := unreadTail(t, e, 300<<10)
	wantState(t, cli, tcp.StateTimeWait)
	rsts := counter(e.a, "TCP.ResetsReceived")
	got := readRest(t, e, cli, 1000)
	if !bytes.Equal(got, data) {
		t.Errorf("read %d bytes after TIME-WAIT, want the %d sent", len(got), len(data))
	}
	if n := counter(e.a, "TCP.ResetsReceived") - rsts; n != 0 {
		t.Errorf("%d RSTs drawn by reading after the peer's FIN (window updates after FIN)", n)
	}
}

// TestUnreadDataOutlivesClose: unread data stays readable when the
// connection reaches CLOSED after the peer's FIN: TIME-WAIT over, or
// LAST-ACK acknowledged (the data received in order up to the FIN is the
// user's until Close, as in Linux).
func TestUnreadDataOutlivesClose(t *testing.T) {
	t.Run("time-wait-over", func(t *testing.T) {
		e := newEnv(t, true)
		cli, data := unreadTail(t, e, 100<<10)
		e.advance(5 * time.Minute)
		wantState(t, cli, tcp.StateClosed)
		if got := readRest(t, e, cli, 777); !bytes.Equal(got, data) {
			t.Errorf("read %d bytes after CLOSED, want the %d sent", len(got), len(data))
		}
	})
	t.Run("last-ack-acked", func(t *testing.T) {
		// The passive closer: B's data and FIN, then A's FIN; A's
		// reader is behind when B's ACK of its FIN closes it.
		e := newEnv(t, true)
		cli, srv, _ := e.connectPair()
		data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		write(t, srv, data)
		if err := srv.Shutdown(tcpip.ShutdownWrite); err != nil {
			t.Fatal(err)
		}
		e.pump()
		if err := cli.Shutdown(tcpip.ShutdownWrite); err != nil {
			t.Fatal(err)
		}
		e.advance(time.Second)
		wantState(t, cli, tcp.StateClosed)
		if got := readRest(t, e, cli, 100); !bytes.Equal(got, data) {
			t.Errorf("read %d bytes after LAST-ACK, want the %d sent", len(got), len(data))
		}
	})
}
