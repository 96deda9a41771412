package sim_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/transport/tcp"
)

// offloadLine is a —offload— r —plain— c: the a–r link reports receive and
// transmit checksum offload (as link/pipe does), so a leaves its TCP and
// UDP checksums unfilled; the r–c link has none, so c verifies them and r
// must fill them in when forwarding (and a must when it fragments). v6
// picks the family; arMTU and rcMTU are the links' MTUs (zero: 1500).
// capture, if not nil, receives a pcap of what c's NIC sends and receives.
func offloadLine(t *testing.T, n *sim.Network, v6 bool, arMTU, rcMTU uint32, capture *bytes.Buffer) (a, r, c *sim.Host) {
	t.Helper()
	end := sim.HostOptions{IPv6: v6, Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	a = n.AddHost("a", end)
	r = n.AddHost("r", sim.HostOptions{IPv6: v6, Forwarding: true})
	c = n.AddHost("c", end)
	pfx := func(s4, s6 string) netip.Prefix {
		if v6 {
			return netip.MustParsePrefix(s6)
		}
		return netip.MustParsePrefix(s4)
	}
	p := sim.Props{Delay: 2 * time.Millisecond}
	n.MustConnect(a, r, sim.LinkConfig{
		AddrA: pfx("10.0.1.1/24", "2001:db8:1::a/64"), AddrB: pfx("10.0.1.2/24", "2001:db8:1::1/64"),
		AB: p, BA: p, MTU: arMTU, ChecksumOffload: true,
	})
	rc := sim.LinkConfig{
		AddrA: pfx("10.0.2.1/24", "2001:db8:2::1/64"), AddrB: pfx("10.0.2.2/24", "2001:db8:2::c/64"),
		AB: p, BA: p, MTU: rcMTU,
	}
	if capture != nil {
		rc.CaptureB = capture
	}
	n.MustConnect(r, c, rc)
	if err := a.SetDefaultRoute(pfx("10.0.1.2/24", "2001:db8:1::1/64").Addr()); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDefaultRoute(pfx("10.0.2.1/24", "2001:db8:2::1/64").Addr()); err != nil {
		t.Fatal(err)
	}
	n.Run(time.Second) // let the NICs' announcements pass
	return a, r, c
}

// noChecksumErrors fails t if any host counted a TCP or UDP checksum error.
func noChecksumErrors(t *testing.T, hosts ...*sim.Host) {
	t.Helper()
	for _, h := range hosts {
		st := h.Stats()
		if tc, uc := st.TCP.ChecksumErrors.Load(), st.UDP.ChecksumErrors.Load(); tc != 0 || uc != 0 {
			t.Errorf("%s: TCP.ChecksumErrors %d, UDP.ChecksumErrors %d, want 0", h.Name(), tc, uc)
		}
	}
}

// udpFlow sends count datagrams of size bytes from src to dst and checks
// that every one arrived intact.
func udpFlow(t *testing.T, n *sim.Network, src, dst *sim.Host, size, count int) {
	t.Helper()
	f, err := sim.StartUDPStream(src, dst, sim.UDPFlowConfig{Port: 7000, Size: size, Count: count, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n.Run(time.Second)
	f.Stop()
	st := f.Stats()
	if st.Sent != uint64(count) || st.Unique != uint64(count) || st.Corrupt != 0 {
		t.Errorf("%s→%s %d-byte datagrams: sent %d, received %d distinct, %d corrupt; want %d, %d, 0",
			src.Name(), dst.Name(), size, st.Sent, st.Unique, st.Corrupt, count, count)
	}
}

// A host forwarding from a link with checksum offload to one without fills
// in the TCP and UDP checksums the sender left to the offload (Linux:
// CHECKSUM_PARTIAL completed by skb_checksum_help on egress), in both
// directions, over IPv4 and IPv6 (RFC 8200 §8.1: the UDP checksum is
// mandatory there).
func TestForwardFillsOffloadedChecksums(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "IPv4"
		if v6 {
			name = "IPv6"
		}
		t.Run(name, func(t *testing.T) {
			n := newNet(t, 1)
			var capture bytes.Buffer
			a, r, c := offloadLine(t, n, v6, 0, 0, &capture)
			for _, dir := range [][2]*sim.Host{{a, c}, {c, a}} {
				if res := sim.StreamTransfer(dir[0], dir[1], 8080, 200_000, 7); !res.OK() {
					t.Errorf("TCP %s→%s: %+v", dir[0].Name(), dir[1].Name(), res)
				}
				udpFlow(t, n, dir[0], dir[1], 1000, 20)
			}
			noChecksumErrors(t, a, r, c)
			wantFilledChecksums(t, capture.Bytes())
			if v6 {
				if got := r.Stats().IPv6.PacketsForwarded.Load(); got == 0 {
					t.Error("r forwarded nothing")
				}
			} else if got := r.Stats().IPv4.PacketsForwarded.Load(); got == 0 {
				t.Error("r forwarded nothing")
			}
		})
	}
}

// A datagram larger than the offload link's MTU is fragmented by its
// sender: no link can compute a checksum over fragments, so the sender
// fills it in first (RFC 791 §3.2; RFC 8200 §4.5), and c, beyond the
// router, verifies the reassembled datagram.
func TestFragmentFillsOffloadedChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "IPv4"
		if v6 {
			name = "IPv6"
		}
		t.Run(name, func(t *testing.T) {
			n := newNet(t, 1)
			var capture bytes.Buffer
			a, r, c := offloadLine(t, n, v6, 0, 0, &capture)
			udpFlow(t, n, a, c, 3000, 5)
			noChecksumErrors(t, a, r, c)
			wantFilledChecksums(t, capture.Bytes())
		})
	}
}

// RFC 1812 §5.2.6: r forwards a datagram from the offload link (MTU 9000)
// onto a 1500-byte link by fragmenting it, filling in the checksum that a
// left unfilled before splitting the datagram.
func TestForwardFragmentFillsOffloadedChecksum(t *testing.T) {
	n := newNet(t, 1)
	var capture bytes.Buffer
	a, r, c := offloadLine(t, n, false, 9000, 1500, &capture)
	udpFlow(t, n, a, c, 3000, 5)
	noChecksumErrors(t, a, r, c)
	wantFilledChecksums(t, capture.Bytes())
	if got := r.Stats().IPv4.FragmentsCreated.Load(); got == 0 {
		t.Error("r fragmented nothing")
	}
}

// wantFilledChecksums reads a pcap of Ethernet frames and fails t unless
// every TCP segment and UDP datagram in it carries its checksum: valid for
// a whole datagram, at least not zero in a first fragment (IPv4 UDP would
// otherwise pass with zero, which RFC 768 reads as "no checksum"), and
// unless it saw some.
func wantFilledChecksums(t *testing.T, pcap []byte) {
	t.Helper()
	const fileHeader, recordHeader = 24, 16
	if len(pcap) < fileHeader {
		t.Fatalf("capture of %d bytes", len(pcap))
	}
	checked := 0
	for b := pcap[fileHeader:]; len(b) >= recordHeader; {
		n := int(binary.LittleEndian.Uint32(b[8:]))
		if len(b) < recordHeader+n {
			t.Fatalf("truncated pcap record")
		}
		frame := b[recordHeader : recordHeader+n]
		b = b[recordHeader+n:]
		if len(frame) < header.EthernetMinimumSize {
			continue
		}
		var (
			src, dst netip.Addr
			proto    uint8
			seg      []byte
			whole    bool
		)
		ip := frame[header.EthernetMinimumSize:]
		switch binary.BigEndian.Uint16(frame[12:]) {
		case 0x0800:
			h := header.IPv4(ip)
			if len(ip) < header.IPv4MinimumSize || !h.IsFirstFragment() {
				continue
			}
			src, dst, proto = h.Source(), h.Destination(), uint8(h.Protocol())
			seg, whole = ip[h.HeaderLength():h.TotalLength()], !h.IsFragment()
		case 0x86dd:
			h := header.IPv6(ip)
			if len(ip) < header.IPv6MinimumSize {
				continue
			}
			// The test's packets carry no extension headers but a
			// Fragment header (44) when fragmented.
			src, dst, proto = h.Source(), h.Destination(), uint8(h.NextHeader())
			seg, whole = ip[header.IPv6MinimumSize:header.IPv6MinimumSize+int(h.PayloadLength())], true
			if proto == 44 {
				if len(seg) < 8 || binary.BigEndian.Uint16(seg[2:])&^7 != 0 {
					continue // not a first fragment
				}
				proto, seg, whole = seg[0], seg[8:], false
			}
		default:
			continue
		}
		// A TCP checksum may be zero (RFC 9293 §3.1 keeps no special
		// value); a UDP one never is once computed (RFC 768).
		sum := uint16(1)
		valid := true
		switch proto {
		case 6:
			if len(seg) < header.TCPMinimumSize {
				continue
			}
			valid = !whole || header.TCP(seg).IsChecksumValid(src, dst)
		case 17:
			if len(seg) < header.UDPMinimumSize {
				continue
			}
			sum = header.UDP(seg).Checksum()
			valid = !whole || header.UDP(seg).IsChecksumValid(src, dst)
		default:
			continue
		}
		checked++
		if sum == 0 || !valid {
			t.Errorf("%v → %v protocol %d: checksum %#04x (valid %v)", src, dst, proto, sum, valid)
		}
	}
	if checked == 0 {
		t.Error("no TCP or UDP packet captured")
	}
}
