package ipv4_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

var group = addr("239.1.2.3")

// igmpMsg is an IGMP message seen on the wire.
type igmpMsg struct {
	ip   header.IPv4
	eth  header.Ethernet
	msg  header.IGMP
	recs []header.IGMPv3GroupRecord
}

func seenIGMP(t *testing.T, frames []testlink.Frame) []igmpMsg {
	t.Helper()
	var out []igmpMsg
	for _, f := range frames {
		eth, _ := header.ParseEthernet(f.Bytes)
		if eth.Type() != ipv4Proto {
			continue
		}
		ip, err := header.ParseIPv4(eth.Payload())
		if err != nil || ip.Protocol() != tcpip.IGMPProtocolNumber {
			continue
		}
		m, err := header.ParseIGMP(ip.Payload())
		if err != nil || !m.IsChecksumValid() {
			t.Errorf("bad IGMP message: %v", err)
			continue
		}
		// RFC 2236 §2, RFC 3376 §4: TTL 1 and the router alert option.
		it := ip.OptionIterator()
		o, ok := it.Next()
		if f.From != nil && (ip.TTL() != 1 || !ok || o.Kind != header.IPv4OptionRouterAlert) {
			t.Errorf("IGMP datagram TTL %d, options %x", ip.TTL(), ip.Options())
		}
		im := igmpMsg{ip: ip, eth: eth, msg: m}
		if m.Type() == header.IGMPv3MembershipReport {
			rep, err := header.ParseIGMPv3Report(ip.Payload())
			if err != nil {
				t.Errorf("bad v3 report: %v", err)
				continue
			}
			it := rep.GroupRecords()
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				im.recs = append(im.recs, r)
			}
		}
		out = append(out, im)
	}
	return out
}

func igmpHost(t *testing.T) (*testNet, *testlink.Hub, *stack.Stack, *fakeTransport) {
	n := newNet(t)
	h := n.hub()
	ft, f := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	b := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{f}})
	n.addNIC(b, 1, h, mac(2), 1500, "10.0.0.2/24")
	n.run()
	h.Frames()
	return n, h, b, ft
}

func igmpQueryFrame(q []byte) []byte {
	var ra [4]byte
	(&header.IPv4RouterAlertOptionFields{}).Encode(ra[:])
	return igmpFrame(q, ra[:])
}

func igmpFrame(q []byte, opts []byte) []byte {
	f := header.IPv4Fields{TTL: 1, Protocol: tcpip.IGMPProtocolNumber, Source: addr("10.0.0.254"), Destination: addr("224.0.0.1"), Options: opts}
	return frame(tcpip.LinkAddress{1, 0, 0x5e, 0, 0, 1}, mac(0xfe), f, q)
}

func v3Query(maxResp time.Duration, g netip.Addr) []byte {
	f := header.IGMPv3QueryFields{MaxRespTime: maxResp, GroupAddress: g, QRV: 2, QueryInterval: 125 * time.Second}
	b := make([]byte, f.Size())
	q := f.Encode(b)
	q.SetChecksum(q.CalculateChecksum())
	return b
}

func v2Query(maxResp time.Duration, g netip.Addr) []byte {
	b := make([]byte, header.IGMPMinimumSize)
	m := (&header.IGMPFields{Type: header.IGMPMembershipQuery, MaxRespTime: maxResp, GroupAddress: g}).Encode(b)
	m.SetChecksum(m.CalculateChecksum())
	return b
}

func v2Report(typ header.IGMPType, g netip.Addr) []byte {
	b := make([]byte, header.IGMPMinimumSize)
	m := (&header.IGMPFields{Type: typ, GroupAddress: g}).Encode(b)
	m.SetChecksum(m.CalculateChecksum())
	return b
}

// RFC 3376 §5.1: a join is reported at once with TO_EX({}) to 224.0.0.22
// and once more within the Unsolicited Report Interval; a leave likewise
// with TO_IN({}).
func TestIGMPv3JoinLeave(t *testing.T) {
	n, h, b, _ := igmpHost(t)
	if err := b.JoinGroup(ipv4Proto, 1, group); err != nil {
		t.Fatal(err)
	}
	if !b.IsInGroup(1, group) {
		t.Fatal("not a member")
	}
	msgs := seenIGMP(t, h.Frames())
	if len(msgs) != 1 {
		t.Fatalf("%d messages on join, want 1", len(msgs))
	}
	m := msgs[0]
	if m.msg.Type() != header.IGMPv3MembershipReport || m.ip.Destination() != addr("224.0.0.22") || m.ip.Source() != addr("10.0.0.2") ||
		m.eth.Destination() != (tcpip.LinkAddress{1, 0, 0x5e, 0, 0, 22}) {
		t.Errorf("join report: %v to %s from %s, MAC %s", m.msg.Type(), m.ip.Destination(), m.ip.Source(), m.eth.Destination())
	}
	if len(m.recs) != 1 || m.recs[0].Type() != header.IGMPv3ChangeToExclude || m.recs[0].MulticastAddress() != group || m.recs[0].NumberOfSources() != 0 {
		t.Errorf("join records %v", m.recs)
	}
	n.advance(time.Second)
	if msgs := seenIGMP(t, h.Frames()); len(msgs) != 1 || msgs[0].recs[0].Type() != header.IGMPv3ChangeToExclude {
		t.Errorf("%d retransmissions within 1 s, want 1", len(msgs))
	}
	n.advance(10 * time.Second)
	if msgs := seenIGMP(t, h.Frames()); len(msgs) != 0 {
		t.Errorf("%d more reports", len(msgs))
	}

	// A second join is counted, not reported; the first leave neither.
	b.JoinGroup(ipv4Proto, 1, group)
	b.LeaveGroup(ipv4Proto, 1, group)
	if msgs := seenIGMP(t, h.Frames()); len(msgs) != 0 || !b.IsInGroup(1, group) {
		t.Fatalf("%d messages for a nested join/leave", len(msgs))
	}
	b.LeaveGroup(ipv4Proto, 1, group)
	if b.IsInGroup(1, group) {
		t.Fatal("still a member")
	}
	n.advance(time.Second)
	msgs = seenIGMP(t, h.Frames())
	if len(msgs) != 2 {
		t.Fatalf("%d messages on leave, want 2", len(msgs))
	}
	for _, m := range msgs {
		if len(m.recs) != 1 || m.recs[0].Type() != header.IGMPv3ChangeToInclude || m.recs[0].MulticastAddress() != group {
			t.Errorf("leave records %v", m.recs)
		}
	}
	if err := b.LeaveGroup(ipv4Proto, 1, group); err == nil {
		t.Error("leaving a group not joined succeeded")
	}
	wantCounter(t, b, "IGMP.Sent.V3Report", 4)
}

// RFC 3376 §5.2: a general query is answered within Max Resp Time with a
// current-state report of every group, IS_EX({}); the all-systems group is
// never reported.
func TestIGMPv3Query(t *testing.T) {
	n, h, b, _ := igmpHost(t)
	b.JoinGroup(ipv4Proto, 1, group)
	b.JoinGroup(ipv4Proto, 1, addr("239.9.9.9"))
	b.JoinGroup(ipv4Proto, 1, addr("224.0.0.1"))
	n.advance(2 * time.Second)
	h.Frames()
	h.Send(igmpQueryFrame(v3Query(2*time.Second, netip.IPv4Unspecified())))
	n.run()
	if msgs := seenIGMP(t, h.Frames()); len(msgs) != 1 {
		t.Fatalf("want just the query, got %d messages", len(msgs))
	}
	n.advance(2 * time.Second)
	msgs := seenIGMP(t, h.Frames())
	if len(msgs) != 1 || len(msgs[0].recs) != 2 {
		t.Fatalf("want one report of two groups, got %d messages", len(msgs))
	}
	for _, r := range msgs[0].recs {
		if r.Type() != header.IGMPv3ModeIsExclude || (r.MulticastAddress() != group && r.MulticastAddress() != addr("239.9.9.9")) {
			t.Errorf("record %v %s", r.Type(), r.MulticastAddress())
		}
	}
	// A group-specific query is answered for that group only.
	h.Send(igmpQueryFrame(v3Query(time.Second, group)))
	n.advance(time.Second)
	msgs = seenIGMP(t, h.Frames())
	if len(msgs) != 2 || len(msgs[1].recs) != 1 || msgs[1].recs[0].MulticastAddress() != group {
		t.Fatalf("group query: %d messages", len(msgs))
	}
	// RFC 3376 §9.1: a query without router alert is ignored.
	h.Send(igmpFrame(v3Query(time.Second, netip.IPv4Unspecified()), nil))
	n.advance(2 * time.Second)
	if msgs := seenIGMP(t, h.Frames()); len(msgs) != 1 {
		t.Errorf("answered a query without router alert")
	}
	wantCounter(t, b, "IGMP.RouterAlertMissing", 1)
	wantCounter(t, b, "IGMP.Received.MembershipQuery", 3)
}

// RFC 3376 §7.2.1: an IGMPv2 query puts the host in IGMPv2 mode: v2
// reports to the group, a v2 Leave to 224.0.0.2; after the Older Version
// Querier Present Timeout it speaks IGMPv3 again.
func TestIGMPv2Compatibility(t *testing.T) {
	n, h, b, _ := igmpHost(t)
	b.JoinGroup(ipv4Proto, 1, group)
	n.advance(2 * time.Second)
	h.Frames()
	h.Send(igmpQueryFrame(v2Query(3*time.Second, netip.IPv4Unspecified())))
	n.advance(3 * time.Second)
	msgs := seenIGMP(t, h.Frames())
	if len(msgs) != 2 || msgs[1].msg.Type() != header.IGMPv2MembershipReport || msgs[1].ip.Destination() != group || msgs[1].msg.GroupAddress() != group {
		t.Fatalf("want the query and a v2 report to the group, got %d", len(msgs))
	}
	b.LeaveGroup(ipv4Proto, 1, group)
	msgs = seenIGMP(t, h.Frames())
	if len(msgs) != 1 || msgs[0].msg.Type() != header.IGMPLeaveGroup || msgs[0].ip.Destination() != addr("224.0.0.2") {
		t.Fatalf("want a v2 leave, got %d", len(msgs))
	}
	n.advance(261 * time.Second)
	h.Frames()
	b.JoinGroup(ipv4Proto, 1, group)
	if msgs := seenIGMP(t, h.Frames()); len(msgs) != 1 || msgs[0].msg.Type() != header.IGMPv3MembershipReport {
		t.Fatalf("not back to IGMPv3")
	}
	n.advance(2 * time.Second)
	wantCounter(t, b, "IGMP.Sent.LeaveGroup", 1)
}

// RFC 2236 §3: in IGMPv2 a pending report is suppressed by another host's
// report, and a host that did not report last sends no Leave.
func TestIGMPv2Suppression(t *testing.T) {
	n, h, b, _ := igmpHost(t)
	b.SetNetworkProtocolOption(ipv4Proto, ipv4.IGMPVersionOption(2))
	b.JoinGroup(ipv4Proto, 1, group)
	msgs := seenIGMP(t, h.Frames())
	if len(msgs) != 1 || msgs[0].msg.Type() != header.IGMPv2MembershipReport {
		t.Fatalf("join: %d messages", len(msgs))
	}
	n.advance(10 * time.Second)
	h.Frames()
	h.Send(igmpQueryFrame(v2Query(5*time.Second, netip.IPv4Unspecified())))
	f := igmpQueryFrame(v2Report(header.IGMPv2MembershipReport, group))
	h.Send(f)
	n.advance(5 * time.Second)
	if msgs := seenIGMP(t, h.Frames()); len(msgs) != 2 {
		t.Fatalf("%d messages, want the query and the other report", len(msgs))
	}
	b.LeaveGroup(ipv4Proto, 1, group)
	if msgs := seenIGMP(t, h.Frames()); len(msgs) != 0 {
		t.Errorf("a Leave from a host that was not the last reporter")
	}
	wantCounter(t, b, "IGMP.Received.V2Report", 1)
}

// Joins while the NIC is down are reported when it comes up; multicast to
// a joined group is delivered as such.
func TestIGMPDisabledNICAndDelivery(t *testing.T) {
	n, h, b, ft := igmpHost(t)
	b.DisableNIC(1)
	b.JoinGroup(ipv4Proto, 1, group)
	if msgs := seenIGMP(t, h.Frames()); len(msgs) != 0 {
		t.Fatalf("reported while down")
	}
	b.EnableNIC(1)
	n.run()
	msgs := seenIGMP(t, h.Frames())
	if len(msgs) != 1 || msgs[0].recs[0].MulticastAddress() != group {
		t.Fatalf("not reported on enable: %d", len(msgs))
	}
	f := header.IPv4Fields{TTL: 1, Protocol: tcpip.UDPProtocolNumber, Source: addr("10.0.0.9"), Destination: group}
	h.Send(frame(tcpip.LinkAddress{1, 0, 0x5e, 1, 2, 3}, mac(9), f, udpish(1, 2, nil)))
	n.run()
	got := ft.take()
	if len(got) != 1 || !got[0].info.Multicast || got[0].info.Destination != group {
		t.Fatalf("multicast delivery: %+v", got)
	}
	n.advance(2 * time.Second)
}

func TestIGMPMalformed(t *testing.T) {
	n, h, b, _ := igmpHost(t)
	q := v2Query(time.Second, netip.IPv4Unspecified())
	q[2] ^= 1
	h.Send(igmpQueryFrame(q))
	h.Send(igmpQueryFrame([]byte{0x11, 0, 0}))
	h.Send(igmpQueryFrame(v2Report(0x30, group)))
	n.run()
	wantCounter(t, b, "IGMP.ChecksumErrors", 1)
	wantCounter(t, b, "IGMP.Malformed", 1)
	wantCounter(t, b, "IGMP.Unrecognized", 1)
}
