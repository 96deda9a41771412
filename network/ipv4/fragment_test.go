package ipv4_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// A 60000-byte echo crosses a 1500-byte MTU in fragments both ways and
// comes back byte for byte.
func TestLargeEchoFragmentedAndReassembled(t *testing.T) {
	n, a, b, icmpA, _ := twoHosts(t, 1500)
	// Resolve B first: the neighbour cache queues only a few packets
	// while it resolves, fewer than the 41 fragments.
	if err := send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber}, echoRequest(1, 0, nil)); err != nil {
		t.Fatal(err)
	}
	n.run()
	icmpA.take()
	data := pattern(60000)
	if err := send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber}, echoRequest(1, 1, data)); err != nil {
		t.Fatalf("send: %v", err)
	}
	n.run()
	got := icmpA.take()
	if len(got) != 1 {
		t.Fatalf("A got %d packets, want the reply", len(got))
	}
	m, err := header.ParseICMPv4(got[0].payload)
	if err != nil || m.Type() != header.ICMPv4EchoReply || !m.IsChecksumValid() {
		t.Fatalf("reply: %v %v", m.Type(), err)
	}
	if !bytes.Equal(m.Payload(), data) {
		t.Fatal("reply data differs from request data")
	}
	ip := header.IPv4(got[0].netHdr)
	if ip.IsFragment() || int(ip.TotalLength()) != 20+8+len(data) || !ip.IsChecksumValid() {
		t.Errorf("reassembled header: fragment %v length %d checksum ok %v", ip.IsFragment(), ip.TotalLength(), ip.IsChecksumValid())
	}
	// 60028 bytes of payload in fragments of 1480: 41 fragments.
	wantCounter(t, a, "IPv4.FragmentsCreated", 41)
	wantCounter(t, b, "IPv4.FragmentsReceived", 41)
	wantCounter(t, b, "IPv4.PacketsReassembled", 1)
	wantCounter(t, b, "IPv4.FragmentsCreated", 41)
	wantCounter(t, a, "IPv4.FragmentsReceived", 41)
	wantCounter(t, a, "IPv4.PacketsReassembled", 1)
}

// The fragments a stack sends: offsets in 8-byte units, MF on all but the
// last, the same ID, each within the MTU, covering the datagram.
func TestFragmentsOnTheWire(t *testing.T) {
	n, a, _, _, _ := twoHosts(t, 1000)
	h := n.hubs[0]
	data := pattern(5000)
	a.AddLinkAddress(1, addr("10.0.0.2"), mac(2))
	h.Frames()
	if err := send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: 253, TTL: 9, TOS: 0x10}, data); err != nil {
		t.Fatal(err)
	}
	ips := seenIPv4(h.Frames())
	if len(ips) != 6 {
		t.Fatalf("%d fragments, want 6", len(ips))
	}
	var joined []byte
	for i, ip := range ips {
		if len(ip) > 1000 {
			t.Errorf("fragment %d is %d bytes", i, len(ip))
		}
		if int(ip.FragmentOffset()) != len(joined) {
			t.Errorf("fragment %d offset %d, want %d", i, ip.FragmentOffset(), len(joined))
		}
		if ip.More() != (i < len(ips)-1) || ip.ID() != ips[0].ID() || ip.TTL() != 9 || ip.TOS() != 0x10 || ip.Protocol() != 253 || !ip.IsChecksumValid() {
			t.Errorf("fragment %d: %+v", i, ip.Fields())
		}
		joined = append(joined, ip.Payload()...)
	}
	if !bytes.Equal(joined, data) {
		t.Error("fragments do not add up to the datagram")
	}
}

// A datagram with DF set larger than the MTU is refused with EMSGSIZE.
func TestDontFragmentTooBig(t *testing.T) {
	_, a, _, _, _ := twoHosts(t, 1000)
	err := send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: 253, DF: true}, pattern(2000))
	if err != tcpip.ErrMessageTooLong {
		t.Fatalf("send: %v, want ErrMessageTooLong", err)
	}
	wantCounter(t, a, "IPv4.PacketTooBig", 1)
}

// fragmentFrames cuts a datagram's payload into fragments of the given
// sizes and returns their frames to B.
type fragSpec struct {
	off, n int
	more   bool
}

func fragFrames(src string, id uint16, proto tcpip.TransportProtocolNumber, payload []byte, specs []fragSpec) [][]byte {
	var out [][]byte
	for _, s := range specs {
		f := header.IPv4Fields{ID: id, Protocol: proto, Source: addr(src), Destination: addr("10.0.0.2"), FragmentOffset: uint16(s.off)}
		if s.more {
			f.Flags = header.IPv4FlagMoreFragments
		}
		out = append(out, frame(mac(2), mac(9), f, payload[s.off:s.off+s.n]))
	}
	return out
}

// fragHost is B alone on a hub, with a fake UDP-like transport (17) and a
// static neighbour for the injecting station 10.0.0.9.
func fragHost(t *testing.T) (*testNet, *testlink.Hub, *stack.Stack, *fakeTransport) {
	n := newNet(t)
	h := n.hub()
	ft, f := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	b := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{f}})
	n.addNIC(b, 1, h, mac(2), 1500, "10.0.0.2/24")
	b.AddLinkAddress(1, addr("10.0.0.9"), mac(9))
	n.run()
	h.Frames()
	return n, h, b, ft
}

func TestReassemblyInAnyOrder(t *testing.T) {
	n, h, b, ft := fragHost(t)
	payload := udpish(1, 2, pattern(100))
	frames := fragFrames("10.0.0.9", 77, tcpip.UDPProtocolNumber, payload, []fragSpec{{0, 32, true}, {32, 40, true}, {72, 36, false}})
	for _, i := range []int{2, 0, 1} {
		h.Send(frames[i])
	}
	n.run()
	got := ft.take()
	if len(got) != 1 || !bytes.Equal(got[0].payload, payload) {
		t.Fatalf("delivered %d packets", len(got))
	}
	wantCounter(t, b, "IPv4.PacketsReassembled", 1)
}

// Adversarial fragments: each is dropped and counted under its own reason.
func TestReassemblyAdversarial(t *testing.T) {
	payload := udpish(1, 2, pattern(300))
	for _, tc := range []struct {
		name    string
		opts    []any
		specs   []fragSpec
		counter string
		want    uint64
	}{
		{"overlap", nil, []fragSpec{{0, 48, true}, {40, 48, true}, {88, 120, false}}, "IPv4.ReassemblyOverlaps", 1},
		{"overlap last", nil, []fragSpec{{96, 112, false}, {0, 104, true}}, "IPv4.ReassemblyOverlaps", 1},
		{"duplicate", nil, []fragSpec{{0, 48, true}, {0, 48, true}}, "IPv4.ReassemblyDuplicates", 1},
		{"too many", []any{ipv4.MaxFragmentsOption(3)}, []fragSpec{{0, 8, true}, {8, 8, true}, {16, 8, true}, {24, 8, true}}, "IPv4.ReassemblyTooManyFrags", 1},
		{"not multiple of 8", nil, []fragSpec{{0, 44, true}}, "IPv4.ReassemblyMalformed", 1},
		{"two lengths", nil, []fragSpec{{96, 112, false}, {48, 48, false}}, "IPv4.ReassemblyMalformed", 1},
		{"past the end", nil, []fragSpec{{96, 112, false}, {208, 8, true}}, "IPv4.ReassemblyMalformed", 1},
		{"memory", []any{ipv4.ReassemblyMemoryLimitOption(3000)}, []fragSpec{{0, 8, true}, {8, 8, true}, {16, 8, true}, {24, 8, true}, {32, 8, true}, {40, 8, true}, {48, 8, true}, {56, 8, true}, {64, 8, true}, {72, 8, true}, {80, 8, true}}, "IPv4.ReassemblyMemoryLimit", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, b, ft := fragHost(t)
			for _, o := range tc.opts {
				if err := b.SetNetworkProtocolOption(ipv4Proto, o); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range fragFrames("10.0.0.9", 5, tcpip.UDPProtocolNumber, payload, tc.specs) {
				h.Send(f)
			}
			n.run()
			if got := counter(t, b, tc.counter); got < tc.want {
				t.Errorf("%s = %d, want at least %d", tc.counter, got, tc.want)
			}
			if got := ft.take(); len(got) != 0 {
				t.Errorf("%d packets delivered", len(got))
			}
			// Whatever is left times out without a leak.
			n.advance(ipv4.DefaultReassemblyTimeout)
		})
	}
}

// A datagram whose last fragment never comes times out after 30 s, and
// the sender, whose first fragment came, is told with Time Exceeded code 1
// quoting it.
func TestReassemblyTimeout(t *testing.T) {
	n, h, b, ft := fragHost(t)
	payload := udpish(1, 2, pattern(100))
	for _, f := range fragFrames("10.0.0.9", 99, tcpip.UDPProtocolNumber, payload, []fragSpec{{0, 48, true}}) {
		h.Send(f)
	}
	n.run()
	h.Frames()
	n.advance(ipv4.DefaultReassemblyTimeout - time.Millisecond)
	if got := counter(t, b, "IPv4.ReassemblyTimeouts"); got != 0 {
		t.Fatalf("timed out early")
	}
	n.advance(time.Millisecond)
	wantCounter(t, b, "IPv4.ReassemblyTimeouts", 1)
	msgs := icmpOf(seenIPv4(h.Frames()))
	if len(msgs) != 1 || msgs[0].Type() != header.ICMPv4TimeExceeded || msgs[0].Code() != header.ICMPv4ReassemblyTimeout {
		t.Fatalf("want one time exceeded (reassembly), got %d messages", len(msgs))
	}
	q, err := header.ParseIPv4(msgs[0].Payload()[:20:20])
	if err == nil {
		t.Errorf("quote parsed as a whole datagram: %v", q)
	}
	quoted := header.IPv4(msgs[0].Payload())
	if quoted.ID() != 99 || quoted.Source() != addr("10.0.0.9") || !bytes.Equal(msgs[0].Payload()[20:28], payload[:8]) {
		t.Errorf("quote: %+v", quoted.Fields())
	}
	if len(ft.take()) != 0 {
		t.Error("incomplete datagram delivered")
	}
	// No error for a datagram whose first fragment never came.
	for _, f := range fragFrames("10.0.0.9", 100, tcpip.UDPProtocolNumber, payload, []fragSpec{{48, 60, false}}) {
		h.Send(f)
	}
	n.advance(ipv4.DefaultReassemblyTimeout)
	wantCounter(t, b, "IPv4.ReassemblyTimeouts", 2)
	if msgs := icmpOf(seenIPv4(h.Frames())); len(msgs) != 0 {
		t.Errorf("%d ICMP messages about a datagram without its first fragment", len(msgs))
	}
}
