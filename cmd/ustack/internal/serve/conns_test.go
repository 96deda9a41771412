package serve

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/link/loopback"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// TestConnsHandler lists a listener and both ends of a connection of a
// loopback stack, as text and as JSON.
func TestConnsHandler(t *testing.T) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	defer s.Close()
	if err := s.CreateNIC(1, loopback.New(loopback.Options{})); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("127.0.0.1")
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.PrefixFrom(addr, 8)}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: netip.MustParsePrefix("127.0.0.0/8"), NIC: 1}); err != nil {
		t.Fatal(err)
	}
	l, err := gonet.ListenTCP(s, netip.AddrPortFrom(netip.IPv4Unspecified(), 7), tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := gonet.DialTCP(s, netip.AddrPortFrom(addr, 7))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(sc, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	// The server's ACK of the 5 bytes may be delayed (RFC 1122
	// §4.2.3.2): wait for it so that the listing shows them acknowledged.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		in, err := c.Info()
		if err != nil {
			t.Fatal(err)
		}
		if in.BytesAcked == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 5 bytes were not acknowledged in 10 s: %v", in)
		}
	}

	srv := &Server{cfg: Config{TAP: "tap0"}, s: s, logger: slog.New(slog.DiscardHandler)}
	h := srv.httpHandler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/conns", nil))
	text := w.Body.String()
	client := c.LocalAddrPort().String()
	for _, want := range []string{"3 TCP endpoints", "tcp 0.0.0.0:7 LISTEN", "tcp " + client + " <-> 127.0.0.1:7", "tcp 127.0.0.1:7 <-> " + client, "state ESTABLISHED", "limited by the application"} {
		if !strings.Contains(text, want) {
			t.Errorf("GET /conns lacks %q:\n%s", want, text)
		}
	}

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/conns?json=1", nil))
	var entries []struct {
		Local, Remote, State, Limit string
		Info                        tcp.Info
	}
	if err := json.Unmarshal(w.Body.Bytes(), &entries); err != nil || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /conns?json=1: %v:\n%s", err, w.Body)
	}
	if len(entries) != 3 || entries[1].Local != client || entries[1].Info.BytesAcked != 5 || entries[1].Info.Cwnd <= 0 ||
		entries[1].State != "ESTABLISHED" || entries[1].Limit != "application" || entries[2].Info.BytesReceived != 5 {
		t.Errorf("GET /conns?json=1 = %+v", entries)
	}
}
