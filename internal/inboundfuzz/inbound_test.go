package inboundfuzz

import (
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/link/channel"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/raw"
	"github.com/ustack-go/ustack/transport/udp"
)

// The stack under test owns 10.99.1.2, the address most golden captures were
// sent to, with the MAC they used, so that the seeds reach the endpoints.
var (
	ownAddr = netip.MustParsePrefix("10.99.1.2/24")
	ownMAC  = tcpip.MustParseLinkAddress("02:99:00:00:00:02")
)

type target struct {
	s     *stack.Stack
	clock *tcpip.ManualClock
	link  *channel.Endpoint
	eps   []tcpip.Endpoint
}

func newTarget(t testing.TB) *target {
	clock := tcpip.NewManualClock()
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol, icmp.NewProtocol4},
		Clock:              clock,
		RawFactory:         raw.Factory{},
	})
	link := channel.New(channel.Config{MTU: 1500, LinkAddress: ownMAC, QueueSize: 4096})
	if err := s.CreateNIC(1, ethernet.New(link)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: ownAddr}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	s.AddRoute(tcpip.Route{Destination: ownAddr.Masked(), NIC: 1})
	s.AddRoute(tcpip.Route{Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.99.1.254"), NIC: 1})
	s.JoinGroup(tcpip.IPv4ProtocolNumber, 1, netip.MustParseAddr("239.99.1.1"))
	tg := &target{s: s, clock: clock, link: link}

	must := func(ep tcpip.Endpoint, err error) tcpip.Endpoint {
		if err != nil {
			t.Fatal(err)
		}
		tg.eps = append(tg.eps, ep)
		return ep
	}
	// UDP: a wildcard listener on the ports the captures use, and a
	// connected one.
	for _, port := range []uint16{7, 7777, 8080} {
		ep := must(s.NewEndpoint(tcpip.UDPProtocolNumber, tcpip.IPv4ProtocolNumber))
		ep.SetSockOpt(tcpip.ReuseAddressOption(true))
		if err := ep.Bind(tcpip.FullAddress{Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	conn := must(s.NewEndpoint(tcpip.UDPProtocolNumber, tcpip.IPv4ProtocolNumber))
	conn.Bind(tcpip.FullAddress{Port: 5353})
	conn.Connect(tcpip.FullAddress{Addr: netip.MustParseAddr("10.99.1.1"), Port: 5353})
	// A ping endpoint, a raw ICMP and a raw UDP endpoint, and packet
	// endpoints, cooked and raw, for every protocol.
	ping := must(s.NewEndpoint(tcpip.ICMPv4ProtocolNumber, tcpip.IPv4ProtocolNumber))
	ping.Connect(tcpip.FullAddress{Addr: netip.MustParseAddr("10.99.1.1")})
	must(s.NewRawEndpoint(tcpip.ICMPv4ProtocolNumber, tcpip.IPv4ProtocolNumber, true))
	must(s.NewRawEndpoint(tcpip.UDPProtocolNumber, tcpip.IPv4ProtocolNumber, true))
	must(s.NewPacketEndpoint(true, 0))
	must(s.NewPacketEndpoint(false, 0))
	return tg
}

// run injects one frame, lets the stack answer and run its timers, reads
// every endpoint dry, and closes the stack.
func (tg *target) run(frame []byte) {
	tg.link.InjectInbound(0, buffer.NewPacketFromBytes(0, frame))
	tg.clock.Advance(0)
	buf := make([]byte, 65536)
	for _, ep := range tg.eps {
		for range 8 {
			if _, err := ep.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true, NeedLinkPacketInfo: true}); err != nil {
				break
			}
		}
	}
	// Reassembly, ARP and IGMP timers: far enough to fire them all.
	tg.clock.Advance(2 * time.Minute)
	tg.link.Drain()
	for _, ep := range tg.eps {
		ep.Close()
	}
	tg.s.Close()
	tg.s.Wait()
	tg.link.Drain()
}

// goldenFrames returns the frames captured from Linux for the header tests.
func goldenFrames(t testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join("..", "..", "header", "testdata", "golden", "*.hex"))
	var frames [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var digits strings.Builder
		for line := range strings.SplitSeq(string(raw), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "#") {
				digits.WriteString(strings.Join(strings.Fields(line), ""))
			}
		}
		b, err := hex.DecodeString(digits.String())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Re-address every frame to the stack under test.
		if len(b) >= 6 {
			copy(b, ownMAC[:])
		}
		frames = append(frames, b)
	}
	if len(frames) < 40 {
		t.Fatalf("only %d golden frames", len(frames))
	}
	return frames
}

// Every golden frame goes through the whole inbound path without leaking a
// packet, a chunk or a timer.
func TestGoldenFrames(t *testing.T) {
	buffer.SetCounting(true)
	defer buffer.SetCounting(false)
	before := buffer.ReadStats()
	totals := map[string]uint64{}
	for _, f := range goldenFrames(t) {
		tg := newTarget(t)
		tg.run(f)
		if n := tg.clock.Pending(); n != 0 {
			t.Fatalf("%d timers pending after Close", n)
		}
		for _, c := range tg.s.Stats().Snapshot() {
			totals[c.Name] += c.Value
		}
	}
	// The seeds reach every layer: ARP answered, pings answered, UDP
	// delivered, fragments reassembled, IGMP seen, and bad ones counted.
	for _, name := range []string{"ARP.RepliesSent", "ICMPv4.Sent.EchoReply", "UDP.PacketsReceived",
		"IPv4.FragmentsReceived", "IGMP.Received.V2Report", "NICs.RxUnknownProtocol"} {
		if totals[name] == 0 {
			t.Errorf("%s = 0 over all golden frames", name)
		}
	}
	after := buffer.ReadStats()
	if after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
		t.Fatalf("leak: before %+v after %+v", before, after)
	}
}

func FuzzInbound(f *testing.F) {
	for _, fr := range goldenFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		tg := newTarget(t)
		tg.run(frame)
		if n := tg.clock.Pending(); n != 0 {
			t.Fatalf("%d timers pending after Close", n)
		}
	})
}
