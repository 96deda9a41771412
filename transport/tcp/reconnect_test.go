package tcp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// refuse makes c's connection to B:port fail with an RST and collects the
// error from Connect, as a non-blocking connect(2) caller would.
func refuse(t *testing.T, e *env, c tcpip.Endpoint, port uint16) {
	t.Helper()
	if err := c.Connect(tcpip.FullAddress{Addr: addrB, Port: port}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	e.pump()
	if err := c.Connect(tcpip.FullAddress{Addr: addrB, Port: port}); !errors.Is(err, tcpip.ErrConnectionRefused) {
		t.Fatalf("Connect = %v, want ErrConnectionRefused", err)
	}
	wantState(t, c, tcp.StateClosed)
}

// reconnect connects c to B:81 again, now that B listens, and checks the
// connection carries data.
func reconnect(t *testing.T, e *env, c, l tcpip.Endpoint) tcpip.Endpoint {
	t.Helper()
	if err := c.Connect(tcpip.FullAddress{Addr: addrB, Port: 81}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect after failure = %v, want ErrConnectStarted", err)
	}
	e.pump()
	if err := c.Connect(tcpip.FullAddress{Addr: addrB, Port: 81}); err != nil {
		t.Fatalf("second Connect = %v", err)
	}
	s := accept(t, l)
	write(t, c, []byte("again"))
	e.pump()
	if got := string(readAll(t, s)); got != "again" {
		t.Fatalf("read %q", got)
	}
	return s
}

// Linux lets connect(2) be called again on a socket whose connection was
// refused; an automatically bound port is released meanwhile.
func TestConnectAfterRefused(t *testing.T) {
	e := newEnv(t, true)
	c := newTCP(t, e.a)
	refuse(t, e, c, 81)
	la, err := c.LocalAddress()
	if err != nil {
		t.Fatal(err)
	}
	if la.Port != 0 {
		t.Fatalf("local port %d kept after failure of an automatic bind", la.Port)
	}
	if err := c.LastError(); err != nil {
		t.Fatalf("LastError = %v after the error was reported", err)
	}
	l := listen(t, e.b, addrB, 81, 4)
	reconnect(t, e, c, l)
	wantState(t, c, tcp.StateEstablished)
}

// An explicitly bound endpoint keeps its port through a failed connect
// (Linux's SOCK_BINDPORT_LOCK) and reconnects from it.
func TestConnectAfterRefusedKeepsBoundPort(t *testing.T) {
	e := newEnv(t, true)
	c := newTCP(t, e.a)
	if err := c.Bind(tcpip.FullAddress{Addr: addrA, Port: 5555}); err != nil {
		t.Fatal(err)
	}
	refuse(t, e, c, 81)
	other := newTCP(t, e.a)
	if err := other.Bind(tcpip.FullAddress{Addr: addrA, Port: 5555}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("Bind of the failed endpoint's port = %v, want ErrAddressInUse", err)
	}
	l := listen(t, e.b, addrB, 81, 4)
	s := reconnect(t, e, c, l)
	ra, err := s.RemoteAddress()
	if err != nil {
		t.Fatal(err)
	}
	if ra.Port != 5555 || ra.Addr != addrA {
		t.Fatalf("server sees %v:%d, want %v:5555", ra.Addr, ra.Port, addrA)
	}
	// Closing the endpoint that never connected releases the port.
	c2 := newTCP(t, e.a)
	if err := c2.Bind(tcpip.FullAddress{Addr: addrA, Port: 5556}); err != nil {
		t.Fatal(err)
	}
	refuse(t, e, c2, 82)
	c2.Close()
	if err := other.Bind(tcpip.FullAddress{Addr: addrA, Port: 5556}); err != nil {
		t.Fatalf("Bind after Close = %v", err)
	}
}

// A connection attempt that timed out (ETIMEDOUT) may be retried too.
func TestConnectAfterTimeout(t *testing.T) {
	e, p, ep, _ := toSynSent(t)
	e.advance(10 * time.Minute)
	if err := ep.Connect(tcpip.FullAddress{Addr: addrPeer, Port: 40000}); !errors.Is(err, tcpip.ErrTimeout) {
		t.Fatalf("Connect = %v, want ErrTimeout", err)
	}
	e.sn.take()
	if err := ep.Connect(tcpip.FullAddress{Addr: addrPeer, Port: 40000}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect after timeout = %v", err)
	}
	syn := p.expect(1)[0]
	if syn.f.Flags != SYN {
		t.Fatalf("sent %v, want SYN", syn.f.Flags)
	}
	p.lport = syn.f.SrcPort
	p.send(segOpts{flags: SYN | ACK, ack: sv(syn.f.SeqNum + 1), opts: mssOpt(1460)})
	p.ack = syn.f.SeqNum + 1
	check(t, p.expect(1)[0], ACK, syn.f.SeqNum+1, p.nxt)
	if err := ep.Connect(tcpip.FullAddress{Addr: addrPeer, Port: 40000}); err != nil {
		t.Fatalf("Connect once established = %v", err)
	}
	if in := info(t, ep); in.State != tcp.StateEstablished || in.Retransmits != 0 {
		t.Fatalf("info %+v", in)
	}
}
