package tcpip

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

func TestErrorsMatchErrno(t *testing.T) {
	seen := map[*Error]bool{}
	for _, e := range AllErrors {
		if seen[e] {
			t.Fatalf("%v listed twice", e)
		}
		seen[e] = true
		wrapped := fmt.Errorf("dial: %w", e)
		if !errors.Is(wrapped, e) {
			t.Errorf("%v: errors.Is(wrapped, sentinel) false", e)
		}
		if !errors.Is(wrapped, e.Errno()) {
			t.Errorf("%v: errors.Is(wrapped, %v) false", e, e.Errno())
		}
		if e.Errno() == 0 {
			t.Errorf("%v has no errno", e)
		}
		if ErrnoOf(wrapped) != e.Errno() {
			t.Errorf("ErrnoOf(%v) = %v", e, ErrnoOf(wrapped))
		}
	}
	if !errors.Is(ErrConnectionRefused, syscall.ECONNREFUSED) || errors.Is(ErrConnectionRefused, syscall.ETIMEDOUT) {
		t.Fatal("ErrConnectionRefused errno mapping wrong")
	}
	if errors.Is(ErrNoRoute, ErrHostUnreachable) {
		t.Fatal("two sentinels with the same errno must stay distinct")
	}
	if !ErrTimeout.Timeout() || !ErrWouldBlock.Timeout() || ErrConnectionReset.Timeout() {
		t.Fatal("Timeout() wrong")
	}
	if ErrnoOf(nil) != 0 || ErrnoOf(errors.New("x")) != syscall.EIO || ErrnoOf(fmt.Errorf("%w", syscall.EPERM)) != syscall.EPERM {
		t.Fatal("ErrnoOf fallbacks wrong")
	}
}

func TestLinkAddress(t *testing.T) {
	a := MustParseLinkAddress("02:00:5E:10:00:01")
	if got := a.String(); got != "02:00:5e:10:00:01" {
		t.Fatalf("String() = %q", got)
	}
	if b, err := ParseLinkAddress("02-00-5e-10-00-01"); err != nil || b != a {
		t.Fatalf("dash form: %v %v", b, err)
	}
	if !a.IsUnicast() || a.IsMulticast() || !a.IsLocallyAdministered() || a.IsZero() {
		t.Fatal("predicates wrong for a local unicast address")
	}
	if !BroadcastLinkAddress.IsBroadcast() || !BroadcastLinkAddress.IsMulticast() || BroadcastLinkAddress.IsUnicast() {
		t.Fatal("broadcast predicates wrong")
	}
	if (LinkAddress{}).IsUnicast() || !(LinkAddress{}).IsZero() {
		t.Fatal("zero address predicates wrong")
	}
	for _, bad := range []string{"", "02:00:5e:10:00", "02:00:5e:10:00:0g", "02:00-5e:10:00:01", "02:00:5e:10:00:011", "0200.5e10.0001xx"} {
		_, err := ParseLinkAddress(bad)
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("ParseLinkAddress(%q) = %v, want a ParseError quoting the input", bad, err)
		}
	}
	var u LinkAddress
	if err := u.UnmarshalText([]byte("aa:bb:cc:dd:ee:ff")); err != nil || u.String() != "aa:bb:cc:dd:ee:ff" {
		t.Fatalf("UnmarshalText: %v %v", u, err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = a.AppendTo(buf[:0]) }); n != 0 {
		t.Fatalf("AppendTo allocates %v", n)
	}
}

var buf [32]byte

func TestNetworkProtocolFor(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want NetworkProtocolNumber
	}{
		{"10.0.0.1", IPv4ProtocolNumber},
		{"::ffff:10.0.0.1", IPv4ProtocolNumber},
		{"fe80::1", IPv6ProtocolNumber},
		{"", 0},
	} {
		var a netip.Addr
		if tc.addr != "" {
			a = netip.MustParseAddr(tc.addr)
		}
		if got := NetworkProtocolFor(a); got != tc.want {
			t.Errorf("NetworkProtocolFor(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestStatsSnapshot(t *testing.T) {
	var s Stats
	s.IPv4.ChecksumErrors.Inc()
	s.IPv4.ChecksumErrors.Inc()
	s.TCP.CurrentEstablished.Add(3)
	s.TCP.CurrentEstablished.Dec()
	s.ICMPv6.Received.NeighborSolicit.Add(5)

	snap := s.Snapshot()
	if v, ok := snap.Get("IPv4.ChecksumErrors"); !ok || v != 2 {
		t.Fatalf("IPv4.ChecksumErrors = %d %v", v, ok)
	}
	if v, _ := snap.Get("TCP.CurrentEstablished"); v != 2 {
		t.Fatalf("gauge = %d", v)
	}
	if v, _ := snap.Get("ICMPv6.Received.NeighborSolicit"); v != 5 {
		t.Fatalf("nested = %d", v)
	}
	if _, ok := snap.Get("IPv4.NoSuchCounter"); ok {
		t.Fatal("Get found a missing counter")
	}
	nz := snap.NonZero()
	if len(nz) != 3 {
		t.Fatalf("NonZero = %v", nz)
	}
	text := nz.String()
	for _, want := range []string{"IPv4.ChecksumErrors", "TCP.CurrentEstablished", "ICMPv6.Received.NeighborSolicit 5"} {
		if !strings.Contains(text, want) {
			t.Errorf("snapshot text lacks %q:\n%s", want, text)
		}
	}
	// Every counter of the tree has a unique name.
	names := map[string]bool{}
	for _, c := range snap {
		if names[c.Name] {
			t.Fatalf("duplicate counter name %s", c.Name)
		}
		names[c.Name] = true
	}
	if len(snap) < 150 {
		t.Fatalf("only %d counters in the tree", len(snap))
	}
	var n NICStats
	n.RxPackets.Inc()
	if v, _ := n.Snapshot().Get("RxPackets"); v != 1 {
		t.Fatal("NIC snapshot wrong")
	}
	if SnapshotOf("x", 3) != nil {
		t.Fatal("SnapshotOf a non-struct")
	}
}

func TestProtocolStrings(t *testing.T) {
	if IPv6ProtocolNumber.String() != "IPv6" || NetworkProtocolNumber(0x88cc).String() != "ethertype(0x88cc)" {
		t.Fatal("NetworkProtocolNumber.String wrong")
	}
	if TCPProtocolNumber.String() != "TCP" || TransportProtocolNumber(99).String() != "proto(99)" {
		t.Fatal("TransportProtocolNumber.String wrong")
	}
	r := Route{Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.1"), NIC: 1, Metric: 10}
	if got := r.String(); got != "0.0.0.0/0 via 10.0.0.1 nic 1 metric 10" {
		t.Fatalf("Route.String() = %q", got)
	}
	pa := ProtocolAddress{IPv4ProtocolNumber, netip.PrefixFrom(netip.MustParseAddr("10.0.0.2"), 24)}
	if pa.String() != "IPv4 10.0.0.2/24" {
		t.Fatalf("ProtocolAddress.String() = %q", pa.String())
	}
}

func TestWaitQueue(t *testing.T) {
	var q WaitQueue
	ch := NewChannelWaiter()
	var got []Events
	h1 := q.Register(ch, EventIn)
	h2 := q.Register(WaiterFunc(func(e Events) { got = append(got, e) }), EventOut|EventHUp)
	q.Notify(EventOut | EventIn)
	select {
	case <-ch:
	default:
		t.Fatal("channel waiter not notified of EventIn")
	}
	q.Notify(EventOut) // the channel waiter is not interested
	q.Notify(EventIn)
	q.Notify(EventIn) // coalesced: capacity one
	<-ch
	select {
	case <-ch:
		t.Fatal("channel waiter did not coalesce")
	default:
	}
	if len(got) != 2 || got[0] != EventOut || got[1] != EventOut {
		t.Fatalf("func waiter got %v", got)
	}
	q.Unregister(h2)
	q.Unregister(h2)
	q.Unregister(h1)
	if q.Len() != 0 {
		t.Fatalf("Len = %d after unregistering", q.Len())
	}
}
