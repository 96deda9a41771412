package tcp_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// SACKEnabledOption(false) on one side: its SYN offers no SACK-permitted,
// the peer's offer is ignored, neither side uses SACK, and data flows.
func TestSACKDisabled(t *testing.T) {
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			e := newEnv(t, true)
			off := e.a
			if side == "server" {
				off = e.b
			}
			if err := off.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.SACKEnabledOption(false)); err != nil {
				t.Fatal(err)
			}
			var got tcp.SACKEnabledOption
			if err := off.TransportProtocolOption(tcp.ProtocolNumber, &got); err != nil || got {
				t.Fatalf("SACKEnabledOption = %v, %v", got, err)
			}
			e.sn.take()
			cli, srv, _ := e.connectPair()
			syns := 0
			for _, s := range e.sn.take() {
				if !s.has(header.TCPFlagSYN) {
					continue
				}
				syns++
				fromOff := (side == "client") == !s.has(header.TCPFlagACK)
				if opts, _ := header.ParseTCPOptions(s.f.Options); opts.SACKPermitted && (fromOff || s.has(header.TCPFlagACK)) {
					t.Fatalf("SACK-permitted offered in %v", s.f.Flags)
				}
			}
			if syns != 2 {
				t.Fatalf("saw %d SYN segments, want SYN and SYN-ACK", syns)
			}
			if info(t, cli).SACKPermitted || info(t, srv).SACKPermitted {
				t.Fatal("SACK negotiated with SACK disabled on one side")
			}
			data := bytes.Repeat([]byte("sackless "), 10000)
			write(t, cli, data)
			e.pump()
			if got := readAll(t, srv); !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes, want %d", len(got), len(data))
			}
		})
	}
}

// The stack-wide defaults of new endpoints: congestion control and buffer
// sizes given to SetTransportProtocolOption.
func TestProtocolDefaults(t *testing.T) {
	e := newEnv(t, true)
	s := e.a
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, tcpip.CongestionControlOption("no-such-cc")); !errors.Is(err, tcpip.ErrInvalidOptionValue) {
		t.Fatalf("unknown algorithm: %v", err)
	}
	for _, opt := range []any{tcpip.CongestionControlOption("newreno"), tcpip.SendBufferSizeOption(256 << 10), tcpip.ReceiveBufferSizeOption(512 << 10)} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			t.Fatalf("SetTransportProtocolOption(%T): %v", opt, err)
		}
	}
	var cc tcpip.CongestionControlOption
	if err := s.TransportProtocolOption(tcp.ProtocolNumber, &cc); err != nil || cc != "newreno" {
		t.Fatalf("default cc = %q, %v", cc, err)
	}
	ep := newTCP(t, s)
	var epCC tcpip.CongestionControlOption
	var snd tcpip.SendBufferSizeOption
	var rcv tcpip.ReceiveBufferSizeOption
	for _, opt := range []any{&epCC, &snd, &rcv} {
		if err := ep.GetSockOpt(opt); err != nil {
			t.Fatal(err)
		}
	}
	if epCC != "newreno" || snd != 256<<10 || rcv != 512<<10 {
		t.Fatalf("new endpoint: cc %q sndbuf %d rcvbuf %d", epCC, snd, rcv)
	}
	// The other stack keeps the built-in defaults.
	other := newTCP(t, e.b)
	other.GetSockOpt(&epCC)
	if epCC != "cubic" {
		t.Fatalf("other stack's default cc = %q", epCC)
	}
}
