package ipv6_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
)

// mldSchedule brings up a NIC that has joined eight groups while down,
// on a stack whose random source is seeded with seed, and returns every
// frame it sends in its first three seconds, with the 10 ms step it went
// in. RFC 3810 §6.1: each group's unsolicited reports are repeated after
// a random delay, drawn from the stack's source.
func mldSchedule(t *testing.T, seed uint64) []string {
	n := newNet(t)
	s := stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{ipv6.NewProtocol},
		Clock:            n.clock,
		RandSource:       rand.NewPCG(seed, 1),
		NDPConfigs:       stack.DefaultNDPConfigurations(),
	})
	n.stacks = append(n.stacks, s)
	if err := s.SetNetworkProtocolOption(ipv6Proto, ipv6.MLDOption{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	h := n.hub()
	port := h.NewPort(mac(1), 1500)
	if err := s.CreateNIC(1, port.Link()); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableNIC(1); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		g := netip.AddrFrom16([16]byte{0xff, 0x05, 14: 1, 15: byte(i + 1)})
		if err := s.JoinGroup(ipv6Proto, 1, g); err != nil {
			t.Fatal(err)
		}
	}
	h.Frames()
	if err := s.EnableNIC(1); err != nil {
		t.Fatal(err)
	}
	var out []string
	for step := range 300 {
		for _, f := range h.Frames() {
			out = append(out, fmt.Sprintf("%d %x", step, f.Bytes))
		}
		n.advance(10 * time.Millisecond)
	}
	return out
}

// Two runs with the same seed send the same frames at the same times:
// the per-group draws of MLD's report delays (and DAD's) take a fixed
// order, not a map's (RFC 3810 §6.1; RFC 4862 §5.4.2).
func TestMLDScheduleSeeded(t *testing.T) {
	a := mldSchedule(t, 42)
	if len(a) < 8 {
		t.Fatalf("%d frames sent, want a report per group at least", len(a))
	}
	for range 3 {
		if b := mldSchedule(t, 42); !slices.Equal(a, b) {
			t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
		}
	}
}
