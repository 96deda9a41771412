package ipv6_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// A packet larger than the link MTU leaves in fragments of at most the
// MTU, each carrying a multiple of 8 bytes but the last, with one random
// Identification (RFC 8200 §4.5), and the peer puts it together again.
func TestFragmentationAndReassembly(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	ftB, fB := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	a := n.newStack(stackOpts{})
	b := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fB}})
	n.addNIC(a, 1, h, mac(1), 1500, "2001:db8::1/64")
	n.addNIC(b, 1, h, mac(2), 1500, "2001:db8::2/64")
	n.run()
	h.Frames()
	payload := udpish(1, 2, pattern(3000))
	if err := send(t, a, addr("2001:db8::2"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber, TOS: 0x20}, payload); err != nil {
		t.Fatal(err)
	}
	n.run()
	var ids []uint32
	total := 0
	for _, ip := range seenIPv6(h.Frames()) {
		if ip.NextHeader() != tcpip.IPv6FragmentProtocolNumber {
			continue
		}
		if len(ip) > 1500 {
			t.Errorf("fragment of %d bytes over a 1500-byte link", len(ip))
		}
		if ip.TrafficClass() != 0x20 || ip.HopLimit() != ipv6.DefaultHopLimit {
			t.Errorf("fragment traffic class %#x hop limit %d", ip.TrafficClass(), ip.HopLimit())
		}
		fh := header.IPv6FragmentHeader(ip.Payload()[:8])
		data := len(ip.Payload()) - 8
		if fh.More() && data%8 != 0 {
			t.Errorf("non-last fragment carries %d bytes", data)
		}
		if int(fh.FragmentOffset()) != total || fh.NextHeader() != tcpip.UDPProtocolNumber {
			t.Errorf("fragment offset %d (want %d), next header %d", fh.FragmentOffset(), total, fh.NextHeader())
		}
		total += data
		ids = append(ids, fh.ID())
	}
	if len(ids) != 3 || ids[0] != ids[1] || ids[1] != ids[2] || total != len(payload) {
		t.Fatalf("fragments %v carrying %d bytes, want 3 with one ID carrying %d", ids, total, len(payload))
	}
	got := ftB.take()
	if len(got) != 1 || !bytes.Equal(got[0].payload, payload) {
		t.Fatalf("B got %d packets, want the whole payload", len(got))
	}
	if len(got[0].netHdr) != header.IPv6MinimumSize || header.IPv6(got[0].netHdr).NextHeader() != tcpip.UDPProtocolNumber ||
		int(header.IPv6(got[0].netHdr).PayloadLength()) != len(payload) {
		t.Errorf("reassembled header %x", got[0].netHdr)
	}
	wantCounter(t, a, "IPv6.FragmentsCreated", 3)
	wantCounter(t, b, "IPv6.FragmentsReceived", 3)
	wantCounter(t, b, "IPv6.PacketsReassembled", 1)
}

// A link below the IPv6 minimum MTU carries nothing (RFC 8200 §5).
func TestMinimumMTU(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	a := n.newStack(stackOpts{})
	n.addNIC(a, 1, h, mac(1), 1279, "2001:db8::1/64")
	a.AddLinkAddress(1, addr("2001:db8::2"), mac(2))
	r, err := a.FindRoute(0, netipZero, addr("2001:db8::2"), ipv6Proto, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.MTU() != 0 {
		t.Errorf("route MTU %d, want 0", r.MTU())
	}
	if err := send(t, a, addr("2001:db8::2"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1, 2, nil)); err != tcpip.ErrMessageTooLong {
		t.Errorf("send: %v, want ErrMessageTooLong", err)
	}
	n.run()
	if got := seenIPv6(h.Frames()); len(got) != 0 {
		t.Errorf("sent %d packets", len(got))
	}
}

// fragFrame returns a frame from the station carrying one fragment of a
// UDP packet: data at byte offset off of the fragmentable part.
func fragFrame(id uint32, off int, more bool, data []byte, exts ...byte) []byte {
	fh := fragHdr(tcpip.UDPProtocolNumber, off, more, id)
	return frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.IPv6FragmentProtocolNumber, Src: stationSrc, Dst: hostDst}, fh, data))
}

// Reassembly edge cases (RFC 8200 §4.5, RFC 5722, RFC 6946, RFC 7112).
func TestReassembly(t *testing.T) {
	payload := udpish(1, 2, pattern(200)) // 208 bytes
	for _, tc := range []struct {
		name    string
		frames  [][]byte
		deliver bool
		counter string
		code    int // parameter problem code, -1 for none
		pointer uint32
	}{
		{"in order", [][]byte{fragFrame(1, 0, true, payload[:96]), fragFrame(1, 96, false, payload[96:])}, true, "IPv6.PacketsReassembled", -1, 0},
		{"out of order", [][]byte{fragFrame(1, 96, false, payload[96:]), fragFrame(1, 0, true, payload[:96])}, true, "IPv6.PacketsReassembled", -1, 0},
		{"duplicate", [][]byte{fragFrame(1, 0, true, payload[:96]), fragFrame(1, 0, true, payload[:96]), fragFrame(1, 96, false, payload[96:])}, true, "IPv6.ReassemblyDuplicates", -1, 0},
		{"atomic fragment", [][]byte{fragFrame(1, 0, false, payload)}, true, "IPv6.PacketsDelivered", -1, 0},
		{"overlap drops the packet", [][]byte{fragFrame(1, 0, true, payload[:96]), fragFrame(1, 88, true, payload[88:104]), fragFrame(1, 96, false, payload[96:])}, false, "IPv6.ReassemblyOverlaps", -1, 0},
		{"length not a multiple of 8", [][]byte{fragFrame(1, 0, true, payload[:95])}, false, "IPv6.ReassemblyMalformed", int(header.ICMPv6ErroneousHeader), 4},
		{"beyond 65535", [][]byte{fragFrame(1, 65528, false, payload[:16])}, false, "IPv6.ReassemblyMalformed", int(header.ICMPv6ErroneousHeader), 42},
		{"first fragment without the transport header", [][]byte{fragFrame(1, 0, true, payload[:0]), fragFrame(1, 0, true, payload[:0])}, false, "IPv6.ReassemblyMalformed", -1, 0},
		{"incomplete header chain", [][]byte{frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.IPv6FragmentProtocolNumber, Src: stationSrc, Dst: hostDst},
			fragHdr(tcpip.IPv6DestinationOptionsNumber, 0, true, 1), append(opts(tcpip.UDPProtocolNumber, make([]byte, 20)), 0, 0)[:16]))}, false, "IPv6.IncompleteHeaderChain", int(header.ICMPv6IncompleteHeaderChain), 0},
		{"last fragment shorter than what came", [][]byte{fragFrame(1, 96, true, payload[96:200]), fragFrame(1, 8, false, payload[8:16])}, false, "IPv6.ReassemblyMalformed", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, b, ft := host(t, stack.TransportPacketHandled)
			for _, f := range tc.frames {
				h.Send(f)
			}
			n.run()
			got := ft.take()
			if tc.deliver != (len(got) == 1) || len(got) > 1 {
				t.Fatalf("delivered %d packets, want delivery %v", len(got), tc.deliver)
			}
			if tc.deliver && !bytes.Equal(got[0].payload, payload) {
				t.Errorf("payload %x, want %x", got[0].payload, payload)
			}
			if counter(t, b, tc.counter) == 0 {
				t.Errorf("%s not counted", tc.counter)
			}
			pps, _ := icmpOfType(h.Frames(), header.ICMPv6ParamProblem)
			if tc.code < 0 {
				if len(pps) != 0 {
					t.Errorf("sent %d parameter problems", len(pps))
				}
				return
			}
			if len(pps) != 1 || int(pps[0].Code()) != tc.code || pps[0].Pointer() != tc.pointer {
				t.Fatalf("parameter problems %v, want code %d pointer %d", pps, tc.code, tc.pointer)
			}
		})
	}
}

// After an overlap, the packet's later fragments are dropped too, even
// those that would complete it (RFC 5722 §4).
func TestReassemblyOverlapPoisons(t *testing.T) {
	n, h, b, ft := host(t, stack.TransportPacketHandled)
	payload := udpish(1, 2, pattern(200))
	h.Send(fragFrame(5, 0, true, payload[:96]))
	h.Send(fragFrame(5, 0, true, payload[:104]))
	h.Send(fragFrame(5, 0, true, payload[:96]))
	h.Send(fragFrame(5, 96, false, payload[96:]))
	n.run()
	if got := ft.take(); len(got) != 0 {
		t.Fatalf("delivered %d packets", len(got))
	}
	wantCounter(t, b, "IPv6.ReassemblyOverlaps", 3)
	// Once the timeout passed, the Identification may be used again.
	n.advance(ipv6.DefaultReassemblyTimeout)
	h.Send(fragFrame(5, 0, true, payload[:96]))
	h.Send(fragFrame(5, 96, false, payload[96:]))
	n.run()
	if got := ft.take(); len(got) != 1 {
		t.Fatalf("delivered %d packets after the timeout, want 1", len(got))
	}
}

// An incomplete packet times out after 60 s; Time Exceeded, code 1, goes
// back only if its first fragment came (RFC 8200 §4.5).
func TestReassemblyTimeout(t *testing.T) {
	for _, first := range []bool{true, false} {
		n, h, b, _ := host(t, stack.TransportPacketHandled)
		payload := udpish(1, 2, pattern(200))
		if first {
			h.Send(fragFrame(9, 0, true, payload[:96]))
		} else {
			h.Send(fragFrame(9, 96, false, payload[96:]))
		}
		n.advance(ipv6.DefaultReassemblyTimeout - time.Second)
		wantCounter(t, b, "IPv6.ReassemblyTimeouts", 0)
		n.advance(time.Second)
		wantCounter(t, b, "IPv6.ReassemblyTimeouts", 1)
		tes, _ := icmpOfType(h.Frames(), header.ICMPv6TimeExceeded)
		if !first {
			if len(tes) != 0 {
				t.Errorf("sent %d time exceeded without the first fragment", len(tes))
			}
			continue
		}
		if len(tes) != 1 || tes[0].Code() != header.ICMPv6ReassemblyTimeout {
			t.Fatalf("time exceeded %v, want one with code 1", tes)
		}
		q := tes[0].Payload()
		if fh := header.IPv6FragmentHeader(q[header.IPv6MinimumSize:]); fh.ID() != 9 || !fh.More() {
			t.Errorf("quote is not the first fragment: %x", q)
		}
	}
}

// The reassembly memory limit drops fragments beyond it.
func TestReassemblyMemoryLimit(t *testing.T) {
	n, h, b, ft := host(t, stack.TransportPacketHandled)
	if err := b.SetNetworkProtocolOption(ipv6Proto, ipv6.ReassemblyMemoryLimitOption(2000)); err != nil {
		t.Fatal(err)
	}
	var o ipv6.ReassemblyMemoryLimitOption
	if b.NetworkProtocolOption(ipv6Proto, &o); o != 2000 {
		t.Errorf("option reads %d", o)
	}
	payload := udpish(1, 2, pattern(200))
	for id := range uint32(20) {
		h.Send(fragFrame(id, 0, true, payload[:96]))
	}
	n.run()
	if counter(t, b, "IPv6.ReassemblyMemoryLimit") == 0 {
		t.Error("no fragment dropped for memory")
	}
	if got := ft.take(); len(got) != 0 {
		t.Errorf("delivered %d", len(got))
	}
}

// The reassembled packet carries CE if a fragment was marked (RFC 3168
// §5.3); a mix of ECN-capable and not ECN-capable fragments is dropped.
func TestReassemblyECN(t *testing.T) {
	payload := udpish(1, 2, pattern(200))
	frag := func(ecn uint8, off int, more bool, data []byte) []byte {
		return frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.IPv6FragmentProtocolNumber, Src: stationSrc, Dst: hostDst, TrafficClass: 0x28 | ecn},
			fragHdr(tcpip.UDPProtocolNumber, off, more, 3), data))
	}
	for _, tc := range []struct {
		name       string
		ecn1, ecn2 uint8
		deliver    bool
		want       uint8
	}{
		{"ECT(0) and CE", 2, 3, true, 3},
		{"both ECT(1)", 1, 1, true, 1},
		{"not-ECT and ECT(0)", 0, 2, false, 0},
		{"not-ECT and CE", 3, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, b, ft := host(t, stack.TransportPacketHandled)
			h.Send(frag(tc.ecn1, 0, true, payload[:96]))
			h.Send(frag(tc.ecn2, 96, false, payload[96:]))
			n.run()
			got := ft.take()
			if !tc.deliver {
				if len(got) != 0 {
					t.Fatalf("delivered %d", len(got))
				}
				wantCounter(t, b, "IPv6.ReassemblyMalformed", 1)
				return
			}
			if len(got) != 1 || got[0].info.TOS != 0x28|tc.want {
				t.Fatalf("delivered %+v, want traffic class %#x", got, 0x28|tc.want)
			}
		})
	}
}
