package gonet_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
	"github.com/ustack-go/ustack/transport/udp"
)

// routedHost makes a stack with TCP and UDP over IPv4 and a NIC per link,
// the i-th link's address being addrs[i] (a /24), and a default route
// through gw if it is valid.
func routedHost(t *testing.T, links []stack.LinkEndpoint, addrs []string, gw netip.Addr) *stack.Stack {
	t.Helper()
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	t.Cleanup(s.Close)
	for i, l := range links {
		id := tcpip.NICID(i + 1)
		if err := s.CreateNIC(id, ethernet.New(l)); err != nil {
			t.Fatal(err)
		}
		p := netip.MustParsePrefix(addrs[i])
		if err := s.AddProtocolAddress(id, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: p}, stack.AddressProperties{}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddRoute(tcpip.Route{Destination: p.Masked(), NIC: id}); err != nil {
			t.Fatal(err)
		}
	}
	if gw.IsValid() {
		if err := s.AddRoute(tcpip.Route{Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, NIC: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// A —pipe with checksum offload— R —pipe without— C: A leaves its TCP and
// UDP checksums to the offload, R forwards to C, which verifies them, so R
// must fill them in (Linux: skb_checksum_help on egress); and back.
func TestForwardOffloadedChecksumsOverPipes(t *testing.T) {
	leakcheck.Check(t)
	ar, ra := pipe.New(pipe.Config{QueueSize: 4096})
	rc, cr := pipe.New(pipe.Config{QueueSize: 4096, NoChecksumOffload: true})
	a := routedHost(t, []stack.LinkEndpoint{ar}, []string{"10.1.0.2/24"}, netip.MustParseAddr("10.1.0.1"))
	r := routedHost(t, []stack.LinkEndpoint{ra, rc}, []string{"10.1.0.1/24", "10.2.0.1/24"}, netip.Addr{})
	c := routedHost(t, []stack.LinkEndpoint{cr}, []string{"10.2.0.2/24"}, netip.MustParseAddr("10.2.0.1"))
	if err := r.SetForwarding(tcpip.IPv4ProtocolNumber, true); err != nil {
		t.Fatal(err)
	}
	addrA, addrC := netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.2.0.2")

	for _, dir := range []struct {
		name     string
		src, dst *stack.Stack
		to       netip.Addr
	}{{"AtoC", a, c, addrC}, {"CtoA", c, a, addrA}} {
		t.Run(dir.name, func(t *testing.T) {
			const size = 1 << 20
			data := make([]byte, size)
			rand.Read(data)
			l := tcpListen(t, dir.dst, 7)
			got := make(chan []byte, 1)
			serveTCP(t, l, func(c *gonet.TCPConn) {
				d, _ := io.ReadAll(c)
				got <- d
			})
			conn := tcpDial(t, dir.src, netip.AddrPortFrom(dir.to, 7))
			conn.SetDeadline(time.Now().Add(time.Minute))
			if n, err := conn.Write(data); n != size || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			conn.Close()
			if d := <-got; !bytes.Equal(d, data) {
				t.Fatalf("received %d bytes, differing from the %d sent", len(d), size)
			}

			rx, err := gonet.ListenUDP(dir.dst, netip.AddrPortFrom(netip.IPv4Unspecified(), 9), tcpip.IPv4ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			tx, err := gonet.DialUDP(dir.src, netip.AddrPort{}, netip.AddrPortFrom(dir.to, 9), tcpip.IPv4ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			// The first datagram may wait for ARP; the rest follow.
			buf := make([]byte, 2000)
			rx.SetReadDeadline(time.Now().Add(10 * time.Second))
			for i := range 5 {
				msg := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
				if _, err := tx.Write(msg); err != nil {
					t.Fatal(err)
				}
				n, err := rx.Read(buf)
				if err != nil || !bytes.Equal(buf[:n], msg) {
					t.Fatalf("datagram %d: read %d bytes, %v", i, n, err)
				}
			}
		})
	}
	for _, s := range []*stack.Stack{a, r, c} {
		if tc, uc := s.Stats().TCP.ChecksumErrors.Load(), s.Stats().UDP.ChecksumErrors.Load(); tc != 0 || uc != 0 {
			t.Errorf("TCP.ChecksumErrors %d, UDP.ChecksumErrors %d, want 0", tc, uc)
		}
	}
	// R must not coalesce what it forwards (GRO): the coalesced segments
	// would be too big for C's link.
	if got := r.Stats().IPv4.PacketTooBig.Load(); got != 0 {
		t.Errorf("R refused %d packets as too big", got)
	}
	if r.Stats().IPv4.PacketsForwarded.Load() == 0 {
		t.Error("R forwarded nothing")
	}
}
