package ipv4_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
)

// igmpSchedule joins eight groups on a stack whose random source is
// seeded with seed, takes the NIC down and up (RFC 3376 §5.1: a report
// per group, repeated after a random delay) and answers an IGMPv2
// general query (RFC 2236 §3: a report per group after a random delay),
// and returns every frame sent, with the 10 ms step it went in.
func igmpSchedule(t *testing.T, seed uint64) []string {
	n := newNet(t)
	s := stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		Clock:            n.clock,
		RandSource:       rand.NewPCG(seed, 2),
	})
	n.stacks = append(n.stacks, s)
	h := n.hub()
	n.addNIC(s, 1, h, mac(2), 1500, "10.0.0.2/24")
	for i := range 8 {
		if err := s.JoinGroup(ipv4Proto, 1, netip.AddrFrom4([4]byte{224, 1, 1, byte(i + 1)})); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DisableNIC(1); err != nil {
		t.Fatal(err)
	}
	h.Frames()
	if err := s.EnableNIC(1); err != nil {
		t.Fatal(err)
	}
	var out []string
	for step := range 600 {
		if step == 300 {
			h.Send(igmpQueryFrame(v2Query(2*time.Second, netip.IPv4Unspecified())))
		}
		for _, f := range h.Frames() {
			if f.From != nil {
				out = append(out, fmt.Sprintf("%d %x", step, f.Bytes))
			}
		}
		n.advance(10 * time.Millisecond)
	}
	return out
}

// Two runs with the same seed send the same reports at the same times:
// the per-group delays are drawn in address order, not a map's.
func TestIGMPScheduleSeeded(t *testing.T) {
	a := igmpSchedule(t, 7)
	if len(a) < 16 {
		t.Fatalf("%d frames sent, want reports for eight groups twice at least", len(a))
	}
	for range 3 {
		if b := igmpSchedule(t, 7); !slices.Equal(a, b) {
			t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
		}
	}
}
