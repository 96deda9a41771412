package stack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// Test fixtures: addresses from RFC 5737 and RFC 3849, link addresses
// locally administered.
var (
	neighAddr1  = netip.MustParseAddr("192.0.2.1")
	neighAddr2  = netip.MustParseAddr("192.0.2.2")
	neighAddr3  = netip.MustParseAddr("192.0.2.3")
	neighAddr4  = netip.MustParseAddr("192.0.2.4")
	neighLocal  = netip.MustParseAddr("192.0.2.100")
	neighAddr6  = netip.MustParseAddr("2001:db8::1")
	neighLink1  = tcpip.MustParseLinkAddress("02:00:00:00:00:01")
	neighLink2  = tcpip.MustParseLinkAddress("02:00:00:00:00:02")
	neighNoLink = tcpip.LinkAddress{}
)

// neighRequest is a solicitation the fake resolver was asked to send.
type neighRequest struct {
	target, local netip.Addr
	remote        tcpip.LinkAddress
	at            time.Duration // since the test started
}

// neighRecord is a call of the fake output.
type neighRecord struct {
	addr     netip.Addr
	linkAddr tcpip.LinkAddress
	payloads []string
	at       time.Duration
}

// neighHarness is a NeighborCache on a ManualClock with a fake resolver
// and output that record every call and check that the cache's lock is not
// held while they run.
type neighHarness struct {
	t     *testing.T
	clock *tcpip.ManualClock
	start tcpip.MonotonicTime
	c     *NeighborCache
	rnd   atomic.Uint64 // math.Float64bits of what randFloat returns

	// checkLock makes every callback verify that the cache's lock is
	// free; only single-goroutine tests may set it.
	checkLock bool

	mu       sync.Mutex
	requests []neighRequest
	writes   []neighRecord
	fails    []neighRecord
	dropped  map[netip.Addr]int // told to QueueDropped
	// hooks run inside the callbacks, without the harness's lock.
	onRequest func(neighRequest)
	onWrite   func(i int, r neighRecord)
	onFail    func(r neighRecord)
	onStatic  func(addr netip.Addr) // in ResolveStaticAddress
}

func newNeighHarness(t *testing.T, cfg NUDConfig) *neighHarness {
	t.Helper()
	buffer.SetCounting(true)
	before := buffer.ReadStats().PacketsInUse
	h := &neighHarness{t: t, clock: tcpip.NewManualClock(), checkLock: true}
	h.start = h.clock.NowMonotonic()
	h.setRand(0.5)
	pending := h.clock.Pending()
	h.c = NewNeighborCache(cfg, h.clock, func() float64 { return h.randValue() }, neighResolver{h}, neighOutput{h})
	t.Cleanup(func() {
		h.c.Close()
		if got := h.clock.Pending(); got != pending {
			t.Errorf("after Close: %d timers pending, want %d", got, pending)
		}
		if got := buffer.ReadStats().PacketsInUse; got != before {
			t.Errorf("after Close: %d packets in use, want %d (leak)", got, before)
		}
	})
	return h
}

func (h *neighHarness) setRand(f float64) { h.rnd.Store(uint64(int64(f * (1 << 53)))) }
func (h *neighHarness) randValue() float64 {
	return float64(int64(h.rnd.Load())) / (1 << 53)
}

func (h *neighHarness) now() time.Duration { return h.clock.NowMonotonic().Sub(h.start) }

// lockFree fails the test if the cache's lock is held.
func (h *neighHarness) lockFree(what string) {
	if !h.checkLock {
		return
	}
	if !h.c.mu.TryLock() {
		h.t.Errorf("%s called with the cache's lock held", what)
		return
	}
	h.c.mu.Unlock()
}

type neighResolver struct{ h *neighHarness }

func (r neighResolver) ResolvedProtocol() tcpip.NetworkProtocolNumber {
	return tcpip.IPv4ProtocolNumber
}

func (r neighResolver) LinkAddressRequest(target, local netip.Addr, remote tcpip.LinkAddress) error {
	h := r.h
	h.lockFree("LinkAddressRequest")
	req := neighRequest{target: target, local: local, remote: remote, at: h.now()}
	h.mu.Lock()
	h.requests = append(h.requests, req)
	hook := h.onRequest
	h.mu.Unlock()
	if hook != nil {
		hook(req)
	}
	return nil
}

func (r neighResolver) ResolveStaticAddress(addr netip.Addr) (tcpip.LinkAddress, bool) {
	r.h.lockFree("ResolveStaticAddress")
	r.h.mu.Lock()
	hook := r.h.onStatic
	r.h.mu.Unlock()
	if hook != nil {
		hook(addr)
	}
	if addr == netip.IPv4Unspecified() || !addr.IsValid() {
		return tcpip.LinkAddress{}, false
	}
	if addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return tcpip.BroadcastLinkAddress, true
	}
	if addr.Is4() && addr.IsMulticast() {
		b := addr.As4()
		return tcpip.LinkAddress{0x01, 0x00, 0x5e, b[1] & 0x7f, b[2], b[3]}, true
	}
	return tcpip.LinkAddress{}, false
}

type neighOutput struct{ h *neighHarness }

func (o neighOutput) WriteResolved(addr netip.Addr, la tcpip.LinkAddress, pkts []*buffer.Packet) {
	h := o.h
	h.lockFree("WriteResolved")
	rec := neighRecord{addr: addr, linkAddr: la, at: h.now()}
	h.mu.Lock()
	hook := h.onWrite
	h.mu.Unlock()
	for i, p := range pkts {
		if hook != nil {
			hook(i, rec)
		}
		rec.payloads = append(rec.payloads, string(p.AppendTo(nil)))
		p.Release()
	}
	h.mu.Lock()
	h.writes = append(h.writes, rec)
	h.mu.Unlock()
}

func (o neighOutput) ResolutionFailed(addr netip.Addr, pkts []*buffer.Packet) {
	h := o.h
	h.lockFree("ResolutionFailed")
	rec := neighRecord{addr: addr, at: h.now()}
	for _, p := range pkts {
		rec.payloads = append(rec.payloads, string(p.AppendTo(nil)))
		p.Release()
	}
	h.mu.Lock()
	h.fails = append(h.fails, rec)
	hook := h.onFail
	h.mu.Unlock()
	if hook != nil {
		hook(rec)
	}
}

// QueueDropped implements NeighborDropObserver.
func (o neighOutput) QueueDropped(addr netip.Addr, n int) {
	h := o.h
	h.lockFree("QueueDropped")
	h.mu.Lock()
	if h.dropped == nil {
		h.dropped = make(map[netip.Addr]int)
	}
	h.dropped[addr] += n
	h.mu.Unlock()
}

func (h *neighHarness) droppedTotal() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, d := range h.dropped {
		n += d
	}
	return n
}

func neighPkt(s string) *buffer.Packet { return buffer.NewPacketFromBytes(0, []byte(s)) }

func (h *neighHarness) send(addr netip.Addr, payload string) {
	h.t.Helper()
	if err := h.c.Send(addr, neighLocal, neighPkt(payload)); err != nil {
		h.t.Fatalf("Send(%v, %q) = %v", addr, payload, err)
	}
}

// take returns and forgets what was recorded so far.
func (h *neighHarness) take() (reqs []neighRequest, writes, fails []neighRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	reqs, writes, fails = h.requests, h.writes, h.fails
	h.requests, h.writes, h.fails = nil, nil, nil
	return
}

// reset forgets what was recorded.
func (h *neighHarness) reset() { h.take() }

func (h *neighHarness) wantEntry(addr netip.Addr, state NeighborState, la tcpip.LinkAddress) {
	h.t.Helper()
	e, ok := h.c.Entry(addr)
	if state == NeighborUnknown {
		if ok {
			h.t.Fatalf("entry %v = %+v, want none", addr, e)
		}
		return
	}
	if !ok {
		h.t.Fatalf("no entry for %v, want %v", addr, state)
	}
	if e.State != state || e.LinkAddr != la {
		h.t.Fatalf("entry %v: %v %v, want %v %v", addr, e.State, e.LinkAddr, state, la)
	}
}

// Constructors putting neighAddr1 in each state with link address
// neighLink1 (RFC 4861 Appendix C's states), forgetting what they record.

func (h *neighHarness) toIncomplete() {
	h.t.Helper()
	h.send(neighAddr1, "q1")
	h.wantEntry(neighAddr1, NeighborIncomplete, neighNoLink)
	h.reset()
}

func (h *neighHarness) toReachable() {
	h.t.Helper()
	if _, err := h.c.Resolve(neighAddr1, neighLocal, nil); err != tcpip.ErrWouldBlock {
		h.t.Fatalf("Resolve = %v", err)
	}
	h.c.HandleConfirmation(neighAddr1, neighLink1, ReachabilityConfirmationFlags{Solicited: true})
	h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
	h.reset()
}

func (h *neighHarness) toStale() {
	h.t.Helper()
	h.c.HandleProbe(neighAddr1, neighLink1)
	h.wantEntry(neighAddr1, NeighborStale, neighLink1)
	h.reset()
}

func (h *neighHarness) toDelay() {
	h.t.Helper()
	h.toStale()
	h.send(neighAddr1, "d")
	h.wantEntry(neighAddr1, NeighborDelay, neighLink1)
	h.reset()
}

func (h *neighHarness) toProbe() {
	h.t.Helper()
	h.toDelay()
	h.clock.Advance(h.c.Config().DelayFirstProbeTime)
	h.wantEntry(neighAddr1, NeighborProbe, neighLink1)
	h.reset()
}

func (h *neighHarness) toUnreachable() {
	h.t.Helper()
	h.toProbe()
	cfg := h.c.Config()
	h.clock.Advance(time.Duration(cfg.MaxUnicastProbes) * cfg.RetransmitTimer)
	h.wantEntry(neighAddr1, NeighborUnreachable, neighLink1)
	h.reset()
}

func (h *neighHarness) toFailed() {
	h.t.Helper()
	h.toIncomplete()
	cfg := h.c.Config()
	h.clock.Advance(time.Duration(cfg.MaxMulticastProbes) * cfg.RetransmitTimer)
	h.wantEntry(neighAddr1, NeighborUnreachable, neighNoLink)
	h.reset()
}

func (h *neighHarness) toStatic() {
	h.t.Helper()
	h.c.AddStatic(neighAddr1, neighLink1)
	h.wantEntry(neighAddr1, NeighborStatic, neighLink1)
	h.reset()
}

func (h *neighHarness) to(s NeighborState) {
	h.t.Helper()
	switch s {
	case NeighborIncomplete:
		h.toIncomplete()
	case NeighborReachable:
		h.toReachable()
	case NeighborStale:
		h.toStale()
	case NeighborDelay:
		h.toDelay()
	case NeighborProbe:
		h.toProbe()
	case NeighborUnreachable:
		h.toUnreachable()
	case NeighborStatic:
		h.toStatic()
	default:
		h.t.Fatalf("no constructor for %v", s)
	}
}

func payloadsOf(recs []neighRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.payloads...)
	}
	return out
}

func TestNeighborStateString(t *testing.T) {
	for s, want := range map[NeighborState]string{
		NeighborUnknown: "UNKNOWN", NeighborIncomplete: "INCOMPLETE", NeighborReachable: "REACHABLE",
		NeighborStale: "STALE", NeighborDelay: "DELAY", NeighborProbe: "PROBE",
		NeighborStatic: "STATIC", NeighborUnreachable: "UNREACHABLE", 42: "NeighborState(42)",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", s, got, want)
		}
	}
}

func TestNUDConfigValidated(t *testing.T) {
	d := DefaultNUDConfig()
	want := NUDConfig{
		BaseReachableTime: 30 * time.Second, RetransmitTimer: time.Second, DelayFirstProbeTime: 5 * time.Second,
		MaxMulticastProbes: 3, MaxUnicastProbes: 3, MinRandomFactor: 0.5, MaxRandomFactor: 1.5,
		UnreachableTime: 5 * time.Second, StaleTime: 60 * time.Second, MaxQueuedPackets: 64, MaxEntries: 512,
	}
	if d != want {
		t.Fatalf("DefaultNUDConfig() = %+v, want %+v", d, want)
	}
	if got := (NUDConfig{}).Validated(); got != d {
		t.Errorf("zero.Validated() = %+v, want defaults", got)
	}
	bad := NUDConfig{
		BaseReachableTime: -1, RetransmitTimer: -time.Second, DelayFirstProbeTime: -5,
		MinRandomFactor: -1, MaxRandomFactor: -2, UnreachableTime: -1, StaleTime: -1,
		MaxQueuedPackets: -3, MaxEntries: -1,
	}
	if got := bad.Validated(); got != d {
		t.Errorf("negative.Validated() = %+v, want defaults", got)
	}
	custom := NUDConfig{
		BaseReachableTime: time.Second, RetransmitTimer: 100 * time.Millisecond, DelayFirstProbeTime: 2 * time.Second,
		MaxMulticastProbes: 5, MaxUnicastProbes: 1, MinRandomFactor: 1, MaxRandomFactor: 1,
		UnreachableTime: time.Minute, StaleTime: time.Hour, MaxQueuedPackets: 1, MaxEntries: 2,
	}
	if got := custom.Validated(); got != custom {
		t.Errorf("valid config changed by Validated: %+v", got)
	}
	for _, tc := range []struct {
		min, max         float32
		wantMin, wantMax float32
	}{
		{min: 2, max: 1, wantMin: 2, wantMax: 2},         // max below min: max(default, min)
		{min: 0.8, max: 0.7, wantMin: 0.8, wantMax: 1.5}, // max below min: default max
		{min: float32(nanNeighbor()), max: 1, wantMin: 0.5, wantMax: 1},
		{min: 0.5, max: float32(nanNeighbor()), wantMin: 0.5, wantMax: 1.5},
		{min: float32(infNeighbor()), max: 1, wantMin: 0.5, wantMax: 1},
		{min: 0.5, max: float32(infNeighbor()), wantMin: 0.5, wantMax: 1.5},
	} {
		got := NUDConfig{MinRandomFactor: tc.min, MaxRandomFactor: tc.max}.Validated()
		if got.MinRandomFactor != tc.wantMin || got.MaxRandomFactor != tc.wantMax {
			t.Errorf("factors (%v, %v) validated to (%v, %v), want (%v, %v)",
				tc.min, tc.max, got.MinRandomFactor, got.MaxRandomFactor, tc.wantMin, tc.wantMax)
		}
	}
}

func nanNeighbor() float64 { z := 0.0; return z / z }
func infNeighbor() float64 { z := 0.0; return 1 / z }

// TestNeighborAppendixC walks the rows of RFC 4861 Appendix C, one subtest
// per row, with RFC 7048's UNREACHABLE rows at the end. The NA rows are
// covered exhaustively by TestNeighborConfirmationTable.
func TestNeighborAppendixC(t *testing.T) {
	cfg := DefaultNUDConfig()
	s1o0 := ReachabilityConfirmationFlags{Solicited: true}
	s1o1 := ReachabilityConfirmationFlags{Solicited: true, Override: true}
	s0o0 := ReachabilityConfirmationFlags{}
	s0o1 := ReachabilityConfirmationFlags{Override: true}

	t.Run("none/packet to send/create, multicast NS, timer/INCOMPLETE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.send(neighAddr1, "p1")
		h.wantEntry(neighAddr1, NeighborIncomplete, neighNoLink)
		reqs, writes, fails := h.take()
		want := []neighRequest{{target: neighAddr1, local: neighLocal, at: 0}}
		if !slices.Equal(reqs, want) || len(writes) != 0 || len(fails) != 0 {
			t.Fatalf("requests %v writes %v fails %v; want %v and nothing else", reqs, writes, fails, want)
		}
		if d, ok := h.clock.NextDeadline(); !ok || d.Sub(h.start) != time.Second {
			t.Fatalf("retransmit timer at %v (%v), want 1s", d.Sub(h.start), ok)
		}
	})
	t.Run("INCOMPLETE/retransmit timeout, fewer than N/retransmit NS/INCOMPLETE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toIncomplete()
		h.clock.Advance(time.Second)
		h.wantEntry(neighAddr1, NeighborIncomplete, neighNoLink)
		reqs, _, fails := h.take()
		if len(reqs) != 1 || reqs[0].remote != neighNoLink || reqs[0].at != time.Second || len(fails) != 0 {
			t.Fatalf("requests %v fails %v, want one multicast request at 1s", reqs, fails)
		}
	})
	t.Run("INCOMPLETE/retransmit timeout, N or more/discard, ICMP error/UNREACHABLE (failed)", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toIncomplete()
		h.clock.Advance(3 * time.Second)
		h.wantEntry(neighAddr1, NeighborUnreachable, neighNoLink)
		_, writes, fails := h.take()
		if len(writes) != 0 || !slices.Equal(payloadsOf(fails), []string{"q1"}) {
			t.Fatalf("writes %v fails %v, want q1 failed", writes, fails)
		}
	})
	t.Run("INCOMPLETE/NA S=0 O=any/record, send queued/STALE", func(t *testing.T) {
		for _, f := range []ReachabilityConfirmationFlags{s0o0, s0o1} {
			h := newNeighHarness(t, cfg)
			// Without queued packets the entry stays STALE.
			h.c.Resolve(neighAddr1, neighLocal, nil)
			h.c.HandleConfirmation(neighAddr1, neighLink1, f)
			h.wantEntry(neighAddr1, NeighborStale, neighLink1)
		}
	})
	t.Run("INCOMPLETE/NA S=0 with queued packets/sending them moves STALE to DELAY", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toIncomplete()
		h.c.HandleConfirmation(neighAddr1, neighLink1, s0o0)
		// RFC 4861 §7.3.3: the queued packets are sent to a STALE
		// entry, which makes it DELAY (as Linux does).
		h.wantEntry(neighAddr1, NeighborDelay, neighLink1)
		_, writes, _ := h.take()
		if len(writes) != 1 || writes[0].linkAddr != neighLink1 || !slices.Equal(writes[0].payloads, []string{"q1"}) {
			t.Fatalf("writes %v, want q1 to %v", writes, neighLink1)
		}
	})
	t.Run("INCOMPLETE/NA S=1 O=any/record, send queued/REACHABLE", func(t *testing.T) {
		for _, f := range []ReachabilityConfirmationFlags{s1o0, s1o1} {
			h := newNeighHarness(t, cfg)
			h.toIncomplete()
			h.send(neighAddr1, "q2")
			h.c.HandleConfirmation(neighAddr1, neighLink1, f)
			h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
			_, writes, _ := h.take()
			if len(writes) != 1 || writes[0].linkAddr != neighLink1 || !slices.Equal(writes[0].payloads, []string{"q1", "q2"}) {
				t.Fatalf("writes %v, want q1 q2 to %v", writes, neighLink1)
			}
		}
	})
	t.Run("INCOMPLETE/NA without link-layer address/unchanged", func(t *testing.T) {
		for _, f := range []ReachabilityConfirmationFlags{s0o0, s0o1, s1o0, s1o1} {
			h := newNeighHarness(t, cfg)
			h.toIncomplete()
			f.IsRouter = true
			h.c.HandleConfirmation(neighAddr1, neighNoLink, f)
			// RFC 4861 §7.2.5: silently discarded (Appendix C would
			// update IsRouter).
			h.wantEntry(neighAddr1, NeighborIncomplete, neighNoLink)
			if e, _ := h.c.Entry(neighAddr1); e.IsRouter {
				t.Fatal("IsRouter set by a discarded advertisement")
			}
		}
	})
	t.Run("none/NA/ignored", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.c.HandleConfirmation(neighAddr1, neighLink1, s1o1)
		h.wantEntry(neighAddr1, NeighborUnknown, neighNoLink)
	})
	for _, s := range []NeighborState{NeighborReachable, NeighborStale, NeighborDelay, NeighborProbe} {
		t.Run("!INCOMPLETE("+s.String()+")/NA S=1 O=0 same address/REACHABLE", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleConfirmation(neighAddr1, neighLink1, s1o0)
			h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
		})
		t.Run("!INCOMPLETE("+s.String()+")/NA no link-layer address S=0/update IsRouter/unchanged", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleConfirmation(neighAddr1, neighNoLink, ReachabilityConfirmationFlags{IsRouter: true})
			h.wantEntry(neighAddr1, s, neighLink1)
			if e, _ := h.c.Entry(neighAddr1); !e.IsRouter {
				t.Fatal("IsRouter not updated")
			}
		})
		t.Run("!INCOMPLETE("+s.String()+")/NA S=1 O=1/record/REACHABLE", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleConfirmation(neighAddr1, neighLink2, s1o1)
			h.wantEntry(neighAddr1, NeighborReachable, neighLink2)
		})
		t.Run("!INCOMPLETE("+s.String()+")/NA S=0 O=0/unchanged", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleConfirmation(neighAddr1, neighLink1, s0o0)
			h.wantEntry(neighAddr1, s, neighLink1)
		})
		t.Run("!INCOMPLETE("+s.String()+")/NA S=0 O=1 same address/unchanged", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleConfirmation(neighAddr1, neighLink1, s0o1)
			h.wantEntry(neighAddr1, s, neighLink1)
		})
		t.Run("!INCOMPLETE("+s.String()+")/NA S=0 O=1 different address/record/STALE", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleConfirmation(neighAddr1, neighLink2, s0o1)
			h.wantEntry(neighAddr1, NeighborStale, neighLink2)
		})
		t.Run("!INCOMPLETE("+s.String()+")/upper-layer confirmation/REACHABLE", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleUpperLevelConfirmation(neighAddr1)
			h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
		})
		t.Run("!INCOMPLETE("+s.String()+")/NS different address/record/STALE", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleProbe(neighAddr1, neighLink2)
			h.wantEntry(neighAddr1, NeighborStale, neighLink2)
		})
		t.Run("!INCOMPLETE("+s.String()+")/NS same address/unchanged", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleProbe(neighAddr1, neighLink1)
			h.wantEntry(neighAddr1, s, neighLink1)
		})
	}
	t.Run("REACHABLE/NA S=1 O=0 different address/STALE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toReachable()
		h.c.HandleConfirmation(neighAddr1, neighLink2, s1o0)
		h.wantEntry(neighAddr1, NeighborStale, neighLink1) // address not updated
	})
	for _, s := range []NeighborState{NeighborStale, NeighborDelay, NeighborProbe} {
		t.Run(s.String()+"/NA S=1 O=0 different address/unchanged", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.c.HandleConfirmation(neighAddr1, neighLink2, s1o0)
			h.wantEntry(neighAddr1, s, neighLink1)
		})
	}
	t.Run("REACHABLE/timeout, more than ReachableTime since confirmation/STALE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toReachable()
		h.clock.Advance(h.c.ReachableTime() - 1)
		h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
		h.clock.Advance(1)
		h.wantEntry(neighAddr1, NeighborStale, neighLink1)
	})
	t.Run("STALE/sending packet/start delay timer/DELAY", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toStale()
		h.send(neighAddr1, "s1")
		h.wantEntry(neighAddr1, NeighborDelay, neighLink1)
		reqs, writes, _ := h.take()
		if len(reqs) != 0 || len(writes) != 1 || writes[0].linkAddr != neighLink1 || writes[0].payloads[0] != "s1" {
			t.Fatalf("requests %v writes %v, want s1 written at once", reqs, writes)
		}
		if d, _ := h.clock.NextDeadline(); d.Sub(h.start) != 5*time.Second {
			t.Fatalf("delay timer at %v, want 5s", d.Sub(h.start))
		}
	})
	t.Run("DELAY/delay timeout/unicast NS, retransmit timer/PROBE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toDelay()
		start := h.now()
		h.clock.Advance(5*time.Second - 1)
		h.wantEntry(neighAddr1, NeighborDelay, neighLink1)
		h.clock.Advance(1)
		h.wantEntry(neighAddr1, NeighborProbe, neighLink1)
		reqs, _, _ := h.take()
		want := []neighRequest{{target: neighAddr1, local: neighLocal, remote: neighLink1, at: start + 5*time.Second}}
		if !slices.Equal(reqs, want) {
			t.Fatalf("requests %v, want %v", reqs, want)
		}
	})
	t.Run("PROBE/retransmit timeout, fewer than N/retransmit NS/PROBE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toProbe()
		start := h.now()
		h.clock.Advance(2 * time.Second)
		h.wantEntry(neighAddr1, NeighborProbe, neighLink1)
		reqs, _, _ := h.take()
		want := []neighRequest{
			{target: neighAddr1, local: neighLocal, remote: neighLink1, at: start + time.Second},
			{target: neighAddr1, local: neighLocal, remote: neighLink1, at: start + 2*time.Second},
		}
		if !slices.Equal(reqs, want) {
			t.Fatalf("requests %v, want %v", reqs, want)
		}
	})
	t.Run("PROBE/retransmit timeout, N or more/UNREACHABLE (RFC 7048)", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toProbe()
		h.clock.Advance(3*time.Second - 1)
		h.wantEntry(neighAddr1, NeighborProbe, neighLink1)
		h.clock.Advance(1)
		h.wantEntry(neighAddr1, NeighborUnreachable, neighLink1)
		if reqs, _, _ := h.take(); len(reqs) != 2 {
			t.Fatalf("requests %v, want the 2nd and 3rd probes only", reqs)
		}
		if got := h.c.Stats().ProbeFailures.Load(); got != 1 {
			t.Fatalf("ProbeFailures = %d", got)
		}
	})
	t.Run("none/NS without link-layer address/nothing", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.c.HandleProbe(neighAddr1, neighNoLink)
		h.wantEntry(neighAddr1, NeighborUnknown, neighNoLink)
	})
	t.Run("none/NS with link-layer address/create/STALE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.c.HandleProbe(neighAddr1, neighLink1)
		h.wantEntry(neighAddr1, NeighborStale, neighLink1)
		if e, _ := h.c.Entry(neighAddr1); e.IsRouter {
			t.Fatal("IsRouter true on a created entry (RFC 4861 §7.2.3)")
		}
	})
	t.Run("INCOMPLETE/NS with link-layer address/record, send queued/STALE→DELAY", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toIncomplete()
		h.c.HandleProbe(neighAddr1, neighLink1)
		h.wantEntry(neighAddr1, NeighborDelay, neighLink1)
		_, writes, _ := h.take()
		if !slices.Equal(payloadsOf(writes), []string{"q1"}) {
			t.Fatalf("writes %v", writes)
		}
		// Without queued packets: STALE.
		h2 := newNeighHarness(t, cfg)
		h2.c.Resolve(neighAddr1, netip.Addr{}, nil)
		h2.c.HandleProbe(neighAddr1, neighLink1)
		h2.wantEntry(neighAddr1, NeighborStale, neighLink1)
	})
	t.Run("INCOMPLETE/NS without link-layer address/unchanged", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toIncomplete()
		h.c.HandleProbe(neighAddr1, neighNoLink)
		h.wantEntry(neighAddr1, NeighborIncomplete, neighNoLink)
	})
	t.Run("!INCOMPLETE/NS without link-layer address/unchanged", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toReachable()
		h.c.HandleProbe(neighAddr1, neighNoLink)
		h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
	})

	// RFC 7048 §3 UNREACHABLE, and ustack's choices around it.
	t.Run("UNREACHABLE/packet to send/multicast NS, queue/INCOMPLETE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toUnreachable()
		h.send(neighAddr1, "u1")
		h.wantEntry(neighAddr1, NeighborIncomplete, neighNoLink)
		reqs, writes, _ := h.take()
		if len(reqs) != 1 || reqs[0].remote != neighNoLink || len(writes) != 0 {
			t.Fatalf("requests %v writes %v, want one multicast request, nothing written", reqs, writes)
		}
		h.c.HandleConfirmation(neighAddr1, neighLink2, s1o0)
		h.wantEntry(neighAddr1, NeighborReachable, neighLink2)
		if _, writes, _ := h.take(); !slices.Equal(payloadsOf(writes), []string{"u1"}) {
			t.Fatalf("writes %v", writes)
		}
	})
	t.Run("UNREACHABLE/UnreachableTime/removed", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toUnreachable()
		h.clock.Advance(cfg.UnreachableTime - 1)
		h.wantEntry(neighAddr1, NeighborUnreachable, neighLink1)
		h.clock.Advance(1)
		h.wantEntry(neighAddr1, NeighborUnknown, neighNoLink)
	})
	t.Run("UNREACHABLE/NS/record/STALE", func(t *testing.T) {
		for _, la := range []tcpip.LinkAddress{neighLink1, neighLink2} {
			h := newNeighHarness(t, cfg)
			h.toUnreachable()
			h.c.HandleProbe(neighAddr1, la)
			h.wantEntry(neighAddr1, NeighborStale, la)
		}
	})
	t.Run("UNREACHABLE/NA S=1 same address/REACHABLE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toUnreachable()
		h.c.HandleConfirmation(neighAddr1, neighLink1, s1o0)
		h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
	})
	t.Run("UNREACHABLE/upper-layer confirmation/REACHABLE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toUnreachable()
		h.c.HandleUpperLevelConfirmation(neighAddr1)
		h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
	})
	t.Run("failed UNREACHABLE/packet to send/resolve again", func(t *testing.T) {
		// The default: no hold-down, a packet starts a new resolution
		// at once, as Linux does for a FAILED entry.
		h := newNeighHarness(t, cfg)
		h.toFailed()
		h.send(neighAddr1, "r1")
		h.wantEntry(neighAddr1, NeighborIncomplete, neighNoLink)
		reqs, writes, fails := h.take()
		if len(reqs) != 1 || len(writes) != 0 || len(fails) != 0 {
			t.Fatalf("requests %v writes %v fails %v, want one new request", reqs, writes, fails)
		}
	})
	t.Run("failed UNREACHABLE/packet to send/ResolutionFailed at once with FailedHoldDown", func(t *testing.T) {
		cfg := cfg
		cfg.FailedHoldDown = cfg.UnreachableTime
		h := newNeighHarness(t, cfg)
		h.toFailed()
		h.send(neighAddr1, "f1")
		h.wantEntry(neighAddr1, NeighborUnreachable, neighNoLink)
		reqs, writes, fails := h.take()
		if len(reqs) != 0 || len(writes) != 0 || !slices.Equal(payloadsOf(fails), []string{"f1"}) {
			t.Fatalf("requests %v writes %v fails %v, want f1 failed at once", reqs, writes, fails)
		}
		if got := h.c.Stats().FailedFast.Load(); got != 1 {
			t.Fatalf("FailedFast = %d", got)
		}
		// After UnreachableTime the entry is forgotten and a packet
		// starts a new resolution.
		h.clock.Advance(cfg.UnreachableTime)
		h.wantEntry(neighAddr1, NeighborUnknown, neighNoLink)
		h.send(neighAddr1, "f2")
		h.wantEntry(neighAddr1, NeighborIncomplete, neighNoLink)
	})
	t.Run("failed UNREACHABLE/NA/record, REACHABLE or STALE", func(t *testing.T) {
		for _, f := range []ReachabilityConfirmationFlags{s0o0, s1o0} {
			h := newNeighHarness(t, cfg)
			h.toFailed()
			h.c.HandleConfirmation(neighAddr1, neighLink1, f)
			want := NeighborStale
			if f.Solicited {
				want = NeighborReachable
			}
			h.wantEntry(neighAddr1, want, neighLink1)
			h.send(neighAddr1, "ok")
			if _, writes, _ := h.take(); !slices.Equal(payloadsOf(writes), []string{"ok"}) {
				t.Fatalf("writes %v", writes)
			}
		}
	})
	t.Run("failed UNREACHABLE/NS/record/STALE", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toFailed()
		h.c.HandleProbe(neighAddr1, neighLink1)
		h.wantEntry(neighAddr1, NeighborStale, neighLink1)
	})
	t.Run("failed UNREACHABLE/upper-layer confirmation/unchanged", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toFailed()
		h.c.HandleUpperLevelConfirmation(neighAddr1)
		h.wantEntry(neighAddr1, NeighborUnreachable, neighNoLink)
	})
	t.Run("INCOMPLETE/upper-layer confirmation/unchanged", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toIncomplete()
		h.c.HandleUpperLevelConfirmation(neighAddr1)
		h.wantEntry(neighAddr1, NeighborIncomplete, neighNoLink)
	})
	t.Run("STALE/StaleTime unused/removed", func(t *testing.T) {
		h := newNeighHarness(t, cfg)
		h.toStale()
		h.clock.Advance(cfg.StaleTime - 1)
		h.wantEntry(neighAddr1, NeighborStale, neighLink1)
		h.clock.Advance(1)
		h.wantEntry(neighAddr1, NeighborUnknown, neighNoLink)
	})
	for _, s := range []NeighborState{NeighborReachable, NeighborDelay, NeighborProbe, NeighborStatic} {
		t.Run(s.String()+"/sending packet/written at once/unchanged", func(t *testing.T) {
			h := newNeighHarness(t, cfg)
			h.to(s)
			h.send(neighAddr1, "x")
			h.wantEntry(neighAddr1, s, neighLink1)
			if _, writes, _ := h.take(); len(writes) != 1 || writes[0].linkAddr != neighLink1 {
				t.Fatalf("writes %v", writes)
			}
		})
	}
}

// TestNeighborConfirmationTable checks RFC 4861 §7.2.5 for every state,
// Solicited/Override combination and link-layer address (same as cached,
// different, none).
func TestNeighborConfirmationTable(t *testing.T) {
	type addrKind int
	const (
		same addrKind = iota
		different
		none
	)
	kinds := []string{"same", "different", "none"}
	// want returns the expected state and link address, written from
	// §7.2.5's text.
	want := func(s NeighborState, sol, ovr bool, k addrKind) (NeighborState, tcpip.LinkAddress) {
		switch s {
		case NeighborIncomplete:
			switch {
			case k == none:
				return NeighborIncomplete, neighNoLink // discarded
			case sol:
				return NeighborReachable, neighLink1
			default:
				return NeighborStale, neighLink1
			}
		case NeighborStatic:
			return NeighborStatic, neighLink1 // never changed
		}
		if !ovr && k == different { // I.
			if s == NeighborReachable {
				return NeighborStale, neighLink1
			}
			return s, neighLink1
		}
		la := neighLink1 // II.
		if k == different {
			la = neighLink2
		}
		switch {
		case sol:
			return NeighborReachable, la
		case k == different:
			return NeighborStale, la
		}
		return s, la
	}
	states := []NeighborState{NeighborIncomplete, NeighborReachable, NeighborStale, NeighborDelay, NeighborProbe, NeighborUnreachable, NeighborStatic}
	for _, s := range states {
		for _, sol := range []bool{false, true} {
			for _, ovr := range []bool{false, true} {
				for k := same; k <= none; k++ {
					name := fmt.Sprintf("%v/S=%t/O=%t/%s", s, sol, ovr, kinds[k])
					t.Run(name, func(t *testing.T) {
						h := newNeighHarness(t, DefaultNUDConfig())
						if s == NeighborIncomplete {
							// An entry without queue, to see STALE.
							h.c.Resolve(neighAddr1, neighLocal, nil)
						} else {
							h.to(s)
						}
						la := neighLink1
						switch {
						case k == different && s != NeighborIncomplete:
							la = neighLink2
						case k == none:
							la = neighNoLink
						}
						h.c.HandleConfirmation(neighAddr1, la, ReachabilityConfirmationFlags{Solicited: sol, Override: ovr, IsRouter: true})
						ws, wla := want(s, sol, ovr, k)
						h.wantEntry(neighAddr1, ws, wla)
						e, _ := h.c.Entry(neighAddr1)
						// IsRouter follows the advertisement whenever it is
						// accepted (INCOMPLETE with an address, §7.2.5 II).
						accepted := s != NeighborStatic && (s == NeighborIncomplete && k != none ||
							s != NeighborIncomplete && (ovr || k != different))
						if e.IsRouter != accepted {
							t.Fatalf("IsRouter = %t, want %t", e.IsRouter, accepted)
						}
					})
				}
			}
		}
	}
}

// TestNeighborARPConfirmation checks that an ARP reply (solicited,
// override) updates an entry's link address in any dynamic state.
func TestNeighborARPConfirmation(t *testing.T) {
	arp := ReachabilityConfirmationFlags{Solicited: true, Override: true}
	for _, s := range []NeighborState{NeighborIncomplete, NeighborReachable, NeighborStale, NeighborDelay, NeighborProbe, NeighborUnreachable} {
		t.Run(s.String(), func(t *testing.T) {
			h := newNeighHarness(t, DefaultNUDConfig())
			h.to(s)
			h.c.HandleConfirmation(neighAddr1, neighLink2, arp)
			h.wantEntry(neighAddr1, NeighborReachable, neighLink2)
		})
	}
}

// TestNeighborResolutionTiming checks RFC 4861 §7.2.2 with the default
// constants: three multicast solicitations exactly one second apart, then
// failure exactly three seconds after the first, with every queued packet
// reported in order.
func TestNeighborResolutionTiming(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	var done []error
	var doneAt []time.Duration
	h.send(neighAddr1, "p1")
	h.clock.Advance(500 * time.Millisecond)
	h.send(neighAddr1, "p2")
	if _, err := h.c.Resolve(neighAddr1, neighLocal, func(la tcpip.LinkAddress, err error) {
		done = append(done, err)
		doneAt = append(doneAt, h.now())
	}); err != tcpip.ErrWouldBlock {
		t.Fatalf("Resolve = %v, want ErrWouldBlock", err)
	}
	h.clock.Advance(2500*time.Millisecond - 1)
	reqs, writes, fails := h.take()
	if len(fails) != 0 || len(writes) != 0 || len(done) != 0 {
		t.Fatalf("before 3s: fails %v writes %v done %v", fails, writes, done)
	}
	var at []time.Duration
	for _, r := range reqs {
		if r.target != neighAddr1 || r.local != neighLocal || r.remote != neighNoLink {
			t.Errorf("request %+v, want multicast for %v from %v", r, neighAddr1, neighLocal)
		}
		at = append(at, r.at)
	}
	if want := []time.Duration{0, time.Second, 2 * time.Second}; !slices.Equal(at, want) {
		t.Fatalf("requests at %v, want %v", at, want)
	}
	h.clock.Advance(1)
	_, _, fails = h.take()
	if len(fails) != 1 || fails[0].at != 3*time.Second || fails[0].addr != neighAddr1 ||
		!slices.Equal(fails[0].payloads, []string{"p1", "p2"}) {
		t.Fatalf("fails %+v, want p1 p2 at 3s", fails)
	}
	if len(done) != 1 || done[0] != tcpip.ErrHostUnreachable || doneAt[0] != 3*time.Second {
		t.Fatalf("Resolve callback %v at %v, want ErrHostUnreachable once at 3s", done, doneAt)
	}
	if got := h.c.Stats().ResolutionFailures.Load(); got != 1 {
		t.Fatalf("ResolutionFailures = %d", got)
	}
	if got := h.c.Stats().MulticastProbes.Load(); got != 3 {
		t.Fatalf("MulticastProbes = %d", got)
	}
	// Nothing more happens but the entry's removal.
	h.clock.Advance(time.Hour)
	reqs, writes, fails = h.take()
	if len(reqs)+len(writes)+len(fails) != 0 || len(done) != 1 {
		t.Fatalf("after failure: requests %v writes %v fails %v done %v", reqs, writes, fails, done)
	}
	h.wantEntry(neighAddr1, NeighborUnknown, neighNoLink)
}

// TestNeighborCustomTiming checks that the configured constants are used.
func TestNeighborCustomTiming(t *testing.T) {
	cfg := DefaultNUDConfig()
	cfg.RetransmitTimer = 250 * time.Millisecond
	cfg.MaxMulticastProbes = 5
	cfg.MaxUnicastProbes = 2
	cfg.DelayFirstProbeTime = 2 * time.Second
	h := newNeighHarness(t, cfg)
	h.send(neighAddr1, "p")
	h.clock.Advance(5*250*time.Millisecond - 1)
	if reqs, _, fails := h.take(); len(reqs) != 5 || len(fails) != 0 {
		t.Fatalf("requests %d fails %v", len(reqs), fails)
	}
	h.clock.Advance(1)
	if _, _, fails := h.take(); len(fails) != 1 {
		t.Fatalf("fails %v", fails)
	}
	// DELAY 2 s, then 2 unicast probes 250 ms apart, UNREACHABLE 250 ms
	// after the last.
	h.c.HandleProbe(neighAddr2, neighLink2)
	h.send(neighAddr2, "d")
	h.reset()
	h.clock.Advance(2*time.Second + 500*time.Millisecond - 1)
	h.wantEntry(neighAddr2, NeighborProbe, neighLink2)
	if reqs, _, _ := h.take(); len(reqs) != 2 {
		t.Fatalf("probes %v", reqs)
	}
	h.clock.Advance(1)
	h.wantEntry(neighAddr2, NeighborUnreachable, neighLink2)
}

// TestNeighborQueueOverflow checks RFC 4861 §7.2.2: "When a queue
// overflows, the new arrival SHOULD replace the oldest entry."
func TestNeighborQueueOverflow(t *testing.T) {
	cfg := DefaultNUDConfig()
	cfg.MaxQueuedPackets = 3
	h := newNeighHarness(t, cfg)
	for i := 1; i <= 5; i++ {
		h.send(neighAddr1, fmt.Sprintf("p%d", i))
	}
	if got := h.c.Stats().QueueDrops.Load(); got != 2 {
		t.Fatalf("QueueDrops = %d, want 2", got)
	}
	if h.dropped[neighAddr1] != 2 {
		t.Fatalf("QueueDropped told %v, want 2 for %v", h.dropped, neighAddr1)
	}
	h.c.HandleConfirmation(neighAddr1, neighLink1, ReachabilityConfirmationFlags{Solicited: true})
	_, writes, fails := h.take()
	if len(fails) != 0 || !slices.Equal(payloadsOf(writes), []string{"p3", "p4", "p5"}) {
		t.Fatalf("writes %v fails %v, want p3 p4 p5", writes, fails)
	}
	// A smaller MaxQueuedPackets trims queues at once.
	for i := 1; i <= 3; i++ {
		h.send(neighAddr2, fmt.Sprintf("r%d", i))
	}
	cfg.MaxQueuedPackets = 1
	h.c.SetConfig(cfg)
	if got := h.c.Stats().QueueDrops.Load(); got != 4 || h.dropped[neighAddr2] != 2 {
		t.Fatalf("QueueDrops = %d, told %v; want 4, 2 for %v", got, h.dropped, neighAddr2)
	}
	h.c.HandleConfirmation(neighAddr2, neighLink2, ReachabilityConfirmationFlags{Solicited: true})
	if _, writes, _ := h.take(); !slices.Equal(payloadsOf(writes), []string{"r3"}) {
		t.Fatalf("writes %v, want r3", writes)
	}
}

// TestNeighborReachableTime checks RFC 4861 §6.3.2: ReachableTime is
// BaseReachableTime times a uniform random factor in [Min, Max), drawn
// again when the configuration changes and every few hours (§6.3.4).
func TestNeighborReachableTime(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{
		{0, 15 * time.Second},
		{0.25, 22500 * time.Millisecond},
		{0.5, 30 * time.Second},
		{0.75, 37500 * time.Millisecond},
		{-1, 30 * time.Second}, // out of range: midpoint
		{1, 30 * time.Second},
	} {
		h.setRand(tc.r)
		h.c.SetConfig(DefaultNUDConfig())
		if got := h.c.ReachableTime(); got != tc.want {
			t.Errorf("r=%v: ReachableTime = %v, want %v", tc.r, got, tc.want)
		}
	}
	// A real random source stays in [15 s, 45 s) and varies.
	src := rand.New(rand.NewPCG(1, 2))
	c := NewNeighborCache(DefaultNUDConfig(), tcpip.NewManualClock(), src.Float64, neighResolver{h}, neighOutput{h})
	seen := map[time.Duration]bool{}
	for range 1000 {
		c.SetConfig(NUDConfig{})
		rt := c.ReachableTime()
		if rt < 15*time.Second || rt >= 45*time.Second {
			t.Fatalf("ReachableTime %v out of [15s, 45s)", rt)
		}
		seen[rt] = true
	}
	if len(seen) < 900 {
		t.Fatalf("only %d distinct ReachableTimes in 1000 draws", len(seen))
	}
	c.Close()

	// The entry's REACHABLE time is the one drawn; after two hours a
	// new one is drawn.
	h.setRand(0)
	h.c.SetConfig(DefaultNUDConfig()) // 15 s
	h.toReachable()
	h.clock.Advance(15*time.Second - 1)
	h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
	h.clock.Advance(1)
	h.wantEntry(neighAddr1, NeighborStale, neighLink1)
	h.setRand(0.99)
	h.clock.Advance(2 * time.Hour)
	h.c.HandleProbe(neighAddr2, neighLink2)
	h.c.HandleConfirmation(neighAddr2, neighLink2, ReachabilityConfirmationFlags{Solicited: true})
	if got, want := h.c.ReachableTime(), time.Duration(float64(30*time.Second)*(0.5+h.randValue())); got != want {
		t.Fatalf("ReachableTime after 2h = %v, want %v", got, want)
	}
}

// TestNeighborReachableExtended checks that confirmations in REACHABLE
// (upper-layer or solicited NA) restart ReachableTime.
func TestNeighborReachableExtended(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	h.toReachable()
	h.clock.Advance(20 * time.Second)
	h.c.HandleUpperLevelConfirmation(neighAddr1)
	h.clock.Advance(29 * time.Second)
	h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
	h.c.HandleConfirmation(neighAddr1, neighLink1, ReachabilityConfirmationFlags{Solicited: true})
	h.clock.Advance(30*time.Second - 1)
	h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
	h.clock.Advance(1)
	h.wantEntry(neighAddr1, NeighborStale, neighLink1)
	if e, _ := h.c.Entry(neighAddr1); e.UpdatedAt.Sub(h.start) != 79*time.Second {
		t.Fatalf("UpdatedAt %v, want 79s", e.UpdatedAt.Sub(h.start))
	}
}

func TestNeighborStatic(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	pending := h.clock.Pending()
	h.c.AddStatic(neighAddr1, neighLink1)
	if h.clock.Pending() != pending {
		t.Fatal("a static entry armed a timer")
	}
	h.c.HandleProbe(neighAddr1, neighLink2)
	h.c.HandleConfirmation(neighAddr1, neighLink2, ReachabilityConfirmationFlags{Solicited: true, Override: true, IsRouter: true})
	h.c.HandleConfirmation(neighAddr1, neighLink2, ReachabilityConfirmationFlags{Override: true})
	h.c.HandleUpperLevelConfirmation(neighAddr1)
	h.send(neighAddr1, "s")
	h.clock.Advance(24 * time.Hour)
	h.wantEntry(neighAddr1, NeighborStatic, neighLink1)
	reqs, writes, _ := h.take()
	if len(reqs) != 0 || len(writes) != 1 || writes[0].linkAddr != neighLink1 {
		t.Fatalf("requests %v writes %v", reqs, writes)
	}
	if la, err := h.c.Resolve(neighAddr1, netip.Addr{}, nil); err != nil || la != neighLink1 {
		t.Fatalf("Resolve = %v, %v", la, err)
	}
	// Static entries survive Clear and MaxEntries, not Remove.
	h.c.HandleProbe(neighAddr2, neighLink2)
	h.c.Clear()
	h.wantEntry(neighAddr1, NeighborStatic, neighLink1)
	h.wantEntry(neighAddr2, NeighborUnknown, neighNoLink)
	cfg := DefaultNUDConfig()
	cfg.MaxEntries = 1
	h.c.SetConfig(cfg)
	h.c.AddStatic(neighAddr3, neighLink2)
	h.send(neighAddr2, "a")
	h.send(neighAddr4, "b")
	h.wantEntry(neighAddr1, NeighborStatic, neighLink1)
	h.wantEntry(neighAddr3, NeighborStatic, neighLink2)
	h.wantEntry(neighAddr2, NeighborUnknown, neighNoLink)
	h.wantEntry(neighAddr4, NeighborIncomplete, neighNoLink)
	if !h.c.Remove(neighAddr1) || h.c.Remove(neighAddr1) {
		t.Fatal("Remove of a static entry")
	}
	// Invalid arguments are ignored.
	h.c.AddStatic(netip.Addr{}, neighLink1)
	h.c.AddStatic(neighAddr6, neighNoLink)
	if _, ok := h.c.Entry(neighAddr6); ok || len(h.c.Entries()) != 2 {
		t.Fatalf("entries %v", h.c.Entries())
	}
}

// TestNeighborStaticCompletesResolution checks that a static entry added
// while resolving sends the queue and answers Resolve.
func TestNeighborStaticCompletesResolution(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	var got []tcpip.LinkAddress
	h.send(neighAddr1, "q")
	h.c.Resolve(neighAddr1, netip.Addr{}, func(la tcpip.LinkAddress, err error) {
		if err != nil {
			t.Errorf("callback error %v", err)
		}
		got = append(got, la)
	})
	h.reset()
	h.c.AddStatic(neighAddr1, neighLink2)
	_, writes, _ := h.take()
	if !slices.Equal(payloadsOf(writes), []string{"q"}) || writes[0].linkAddr != neighLink2 {
		t.Fatalf("writes %v", writes)
	}
	if !slices.Equal(got, []tcpip.LinkAddress{neighLink2}) {
		t.Fatalf("callbacks %v", got)
	}
	h.clock.Advance(time.Minute)
	if reqs, _, fails := h.take(); len(reqs) != 0 || len(fails) != 0 {
		t.Fatalf("after static: requests %v fails %v", reqs, fails)
	}
}

func TestNeighborStaleTime(t *testing.T) {
	cfg := DefaultNUDConfig()
	cfg.StaleTime = 10 * time.Second
	h := newNeighHarness(t, cfg)
	h.toStale()
	// An entry that goes REACHABLE → STALE is removed StaleTime later.
	h.c.HandleProbe(neighAddr2, neighLink2)
	h.c.HandleConfirmation(neighAddr2, neighLink2, ReachabilityConfirmationFlags{Solicited: true})
	h.clock.Advance(10*time.Second - 1)
	h.wantEntry(neighAddr1, NeighborStale, neighLink1)
	h.clock.Advance(1)
	h.wantEntry(neighAddr1, NeighborUnknown, neighNoLink)
	h.wantEntry(neighAddr2, NeighborReachable, neighLink2)
	h.clock.Advance(20 * time.Second) // 30 s: STALE
	h.wantEntry(neighAddr2, NeighborStale, neighLink2)
	h.clock.Advance(10*time.Second - 1)
	// Used: DELAY, then confirmed by the upper layer, not removed.
	h.send(neighAddr2, "u")
	h.c.HandleUpperLevelConfirmation(neighAddr2)
	h.clock.Advance(time.Second)
	h.wantEntry(neighAddr2, NeighborReachable, neighLink2)
	h.clock.Advance(30*time.Second + 10*time.Second)
	h.wantEntry(neighAddr2, NeighborUnknown, neighNoLink)
}

func TestNeighborMaxEntries(t *testing.T) {
	cfg := DefaultNUDConfig()
	cfg.MaxEntries = 3
	h := newNeighHarness(t, cfg)
	// Three entries: 1 REACHABLE, 2 INCOMPLETE with a packet, 3 STALE.
	h.toReachable()
	h.send(neighAddr2, "two")
	h.c.HandleProbe(neighAddr3, neighLink2)
	h.reset()

	// A passive probe from a fourth neighbour may only evict the STALE
	// entry (3), the only one not in use.
	h.c.HandleProbe(neighAddr4, neighLink2)
	h.wantEntry(neighAddr3, NeighborUnknown, neighNoLink)
	h.wantEntry(neighAddr4, NeighborStale, neighLink2)
	// Send to 4: DELAY, in use. Now no entry may be evicted passively.
	h.send(neighAddr4, "four")
	h.c.HandleProbe(neighAddr3, neighLink2)
	h.wantEntry(neighAddr3, NeighborUnknown, neighNoLink)
	if got := len(h.c.Entries()); got != 3 {
		t.Fatalf("%d entries", got)
	}

	// Use 1 so that 2 is the least recently used; a send to 3 evicts 2
	// and fails its queued packet.
	h.send(neighAddr1, "one")
	h.reset()
	h.send(neighAddr3, "three")
	h.wantEntry(neighAddr2, NeighborUnknown, neighNoLink)
	h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
	h.wantEntry(neighAddr4, NeighborDelay, neighLink2)
	h.wantEntry(neighAddr3, NeighborIncomplete, neighNoLink)
	if _, _, fails := h.take(); len(fails) != 1 || fails[0].addr != neighAddr2 || fails[0].payloads[0] != "two" {
		t.Fatalf("fails %v, want two", fails)
	}
	if got := h.c.Stats().Evictions.Load(); got != 2 {
		t.Fatalf("Evictions = %d, want 2", got)
	}

	// Resolve counts as a use, and creates entries too.
	h.c.Resolve(neighAddr1, netip.Addr{}, nil)
	h.c.Resolve(neighAddr6, netip.Addr{}, nil) // evicts 4
	h.wantEntry(neighAddr4, NeighborUnknown, neighNoLink)
	h.wantEntry(neighAddr1, NeighborReachable, neighLink1)

	// A smaller MaxEntries evicts at once, least recently used first.
	cfg.MaxEntries = 1
	h.c.SetConfig(cfg)
	if e := h.c.Entries(); len(e) != 1 || e[0].Addr != neighAddr6 {
		t.Fatalf("entries %v, want only %v", e, neighAddr6)
	}
}

func TestNeighborResolve(t *testing.T) {
	type result struct {
		la  tcpip.LinkAddress
		err error
	}
	t.Run("success", func(t *testing.T) {
		h := newNeighHarness(t, DefaultNUDConfig())
		var got []result
		cb := func(la tcpip.LinkAddress, err error) {
			h.lockFree("Resolve callback")
			got = append(got, result{la, err})
		}
		if _, err := h.c.Resolve(neighAddr1, neighLocal, cb); err != tcpip.ErrWouldBlock {
			t.Fatalf("Resolve = %v", err)
		}
		if _, err := h.c.Resolve(neighAddr1, neighLocal, cb); err != tcpip.ErrWouldBlock {
			t.Fatalf("second Resolve = %v", err)
		}
		if reqs, _, _ := h.take(); len(reqs) != 1 {
			t.Fatalf("requests %v, want one resolution", reqs)
		}
		h.c.HandleConfirmation(neighAddr1, neighLink1, ReachabilityConfirmationFlags{Solicited: true})
		want := []result{{neighLink1, nil}, {neighLink1, nil}}
		if !slices.Equal(got, want) {
			t.Fatalf("callbacks %v, want %v", got, want)
		}
		// Known now: returned at once, no callback.
		if la, err := h.c.Resolve(neighAddr1, neighLocal, cb); la != neighLink1 || err != nil {
			t.Fatalf("Resolve = %v, %v", la, err)
		}
		h.clock.Advance(time.Hour)
		if len(got) != 2 {
			t.Fatalf("callbacks %v", got)
		}
	})
	t.Run("failure", func(t *testing.T) {
		h := newNeighHarness(t, DefaultNUDConfig())
		var got []result
		h.c.Resolve(neighAddr1, neighLocal, func(la tcpip.LinkAddress, err error) { got = append(got, result{la, err}) })
		h.clock.Advance(time.Hour)
		if !slices.Equal(got, []result{{neighNoLink, tcpip.ErrHostUnreachable}}) {
			t.Fatalf("callbacks %v", got)
		}
	})
	t.Run("fail fast", func(t *testing.T) {
		cfg := DefaultNUDConfig()
		cfg.FailedHoldDown = cfg.UnreachableTime
		h := newNeighHarness(t, cfg)
		h.toFailed()
		called := false
		if _, err := h.c.Resolve(neighAddr1, neighLocal, func(tcpip.LinkAddress, error) { called = true }); err != tcpip.ErrHostUnreachable {
			t.Fatalf("Resolve = %v, want ErrHostUnreachable", err)
		}
		h.clock.Advance(time.Hour)
		if called {
			t.Fatal("callback called after an immediate error")
		}
	})
	t.Run("static and invalid addresses", func(t *testing.T) {
		h := newNeighHarness(t, DefaultNUDConfig())
		if la, err := h.c.Resolve(netip.MustParseAddr("255.255.255.255"), netip.Addr{}, nil); err != nil || la != tcpip.BroadcastLinkAddress {
			t.Fatalf("broadcast: %v, %v", la, err)
		}
		if la, err := h.c.Resolve(netip.MustParseAddr("224.0.0.251"), netip.Addr{}, nil); err != nil || la != (tcpip.LinkAddress{1, 0, 0x5e, 0, 0, 0xfb}) {
			t.Fatalf("multicast: %v, %v", la, err)
		}
		for _, a := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.MustParseAddr("ff02::1")} {
			if _, err := h.c.Resolve(a, netip.Addr{}, nil); err != tcpip.ErrInvalidArgument {
				t.Fatalf("Resolve(%v) = %v", a, err)
			}
		}
		if len(h.c.Entries()) != 0 {
			t.Fatalf("entries %v", h.c.Entries())
		}
	})
	t.Run("removed, cleared, closed", func(t *testing.T) {
		h := newNeighHarness(t, DefaultNUDConfig())
		var got []error
		cb := func(_ tcpip.LinkAddress, err error) { got = append(got, err) }
		h.c.Resolve(neighAddr1, neighLocal, cb)
		h.c.Resolve(neighAddr2, neighLocal, cb)
		h.c.Resolve(neighAddr3, neighLocal, cb)
		h.c.Remove(neighAddr1)
		h.c.Clear()
		h.c.HandleProbe(neighAddr4, neighLink1)
		h.c.Resolve(neighAddr6, neighLocal, cb)
		h.c.Close()
		h.c.Close()
		want := []error{tcpip.ErrHostUnreachable, tcpip.ErrHostUnreachable, tcpip.ErrHostUnreachable, tcpip.ErrNetworkDown}
		if !slices.Equal(got, want) {
			t.Fatalf("callbacks %v, want %v", got, want)
		}
		if _, err := h.c.Resolve(neighAddr1, neighLocal, cb); err != tcpip.ErrNetworkDown {
			t.Fatalf("Resolve after Close = %v", err)
		}
	})
	t.Run("waiter bound", func(t *testing.T) {
		h := newNeighHarness(t, DefaultNUDConfig())
		n := 0
		for range neighborMaxWaiters {
			if _, err := h.c.Resolve(neighAddr1, neighLocal, func(tcpip.LinkAddress, error) { n++ }); err != tcpip.ErrWouldBlock {
				t.Fatalf("Resolve = %v", err)
			}
		}
		if _, err := h.c.Resolve(neighAddr1, neighLocal, func(tcpip.LinkAddress, error) { n++ }); err != tcpip.ErrNoBufferSpace {
			t.Fatalf("Resolve beyond the bound = %v", err)
		}
		h.c.HandleConfirmation(neighAddr1, neighLink1, ReachabilityConfirmationFlags{Solicited: true})
		if n != neighborMaxWaiters {
			t.Fatalf("%d callbacks", n)
		}
	})
}

// TestNeighborSendErrors checks Send's immediate errors and its use of
// static link addresses.
func TestNeighborSendErrors(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	for _, a := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.MustParseAddr("ff02::1")} {
		if err := h.c.Send(a, netip.Addr{}, neighPkt("bad")); err != tcpip.ErrInvalidArgument {
			t.Fatalf("Send(%v) = %v", a, err)
		}
	}
	h.send(netip.MustParseAddr("255.255.255.255"), "bcast")
	if _, writes, _ := h.take(); len(writes) != 1 || writes[0].linkAddr != tcpip.BroadcastLinkAddress {
		t.Fatalf("writes %v", writes)
	}
	if len(h.c.Entries()) != 0 {
		t.Fatalf("entries %v", h.c.Entries())
	}
	h.toIncomplete()
	h.c.Close()
	if _, _, fails := h.take(); !slices.Equal(payloadsOf(fails), []string{"q1"}) {
		t.Fatalf("fails %v", fails)
	}
	if err := h.c.Send(neighAddr1, netip.Addr{}, neighPkt("late")); err != tcpip.ErrNetworkDown {
		t.Fatalf("Send after Close = %v", err)
	}
	// Every other method is a no-op after Close.
	h.c.HandleProbe(neighAddr1, neighLink1)
	h.c.HandleConfirmation(neighAddr1, neighLink1, ReachabilityConfirmationFlags{Solicited: true})
	h.c.HandleUpperLevelConfirmation(neighAddr1)
	h.c.AddStatic(neighAddr1, neighLink1)
	h.c.Clear()
	h.c.SetConfig(NUDConfig{})
	if h.c.Remove(neighAddr1) || len(h.c.Entries()) != 0 || h.clock.Pending() != 0 {
		t.Fatalf("after Close: entries %v, %d timers", h.c.Entries(), h.clock.Pending())
	}
	if reqs, writes, fails := h.take(); len(reqs)+len(writes)+len(fails) != 0 {
		t.Fatalf("after Close: requests %v writes %v fails %v", reqs, writes, fails)
	}
}

// TestNeighborClose checks that Close releases every packet and stops every
// timer, whatever the entries' states.
func TestNeighborClose(t *testing.T) {
	buffer.SetCounting(true)
	before := buffer.ReadStats().PacketsInUse
	h := newNeighHarness(t, DefaultNUDConfig())
	pending := h.clock.Pending()
	for i := range 50 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i / 10), byte(i%10 + 1)})
		switch i % 5 {
		case 0: // INCOMPLETE with packets and a waiter
			h.c.Send(a, netip.Addr{}, neighPkt("x"))
			h.c.Send(a, netip.Addr{}, neighPkt("y"))
			h.c.Resolve(a, netip.Addr{}, func(tcpip.LinkAddress, error) {})
		case 1: // STALE
			h.c.HandleProbe(a, neighLink1)
		case 2: // DELAY
			h.c.HandleProbe(a, neighLink1)
			h.c.Send(a, netip.Addr{}, neighPkt("z"))
		case 3: // REACHABLE
			h.c.Resolve(a, netip.Addr{}, nil)
			h.c.HandleConfirmation(a, neighLink2, ReachabilityConfirmationFlags{Solicited: true})
		case 4: // static
			h.c.AddStatic(a, neighLink2)
		}
	}
	if h.clock.Pending() == pending {
		t.Fatal("no timers armed")
	}
	if buffer.ReadStats().PacketsInUse == before {
		t.Fatal("no packets queued")
	}
	h.c.Close()
	if got := h.clock.Pending(); got != pending {
		t.Fatalf("%d timers pending after Close, want %d", got, pending)
	}
	if got := buffer.ReadStats().PacketsInUse; got != before {
		t.Fatalf("%d packets in use after Close, want %d", got, before)
	}
	if _, _, fails := h.take(); len(payloadsOf(fails)) != 20 {
		t.Fatalf("%d packets failed, want 20", len(payloadsOf(fails)))
	}
	h.clock.Advance(time.Hour)
	if reqs, _, _ := h.take(); len(reqs) != 0 {
		t.Fatalf("requests after Close: %v", reqs)
	}
}

// TestNeighborReentrant checks that the resolver, the output and the
// callbacks run without the cache's lock: each calls back into the cache
// (a deadlock otherwise; lockFree reports the lock held).
func TestNeighborReentrant(t *testing.T) {
	cfg := DefaultNUDConfig()
	cfg.FailedHoldDown = cfg.UnreachableTime // the retry in onFail fails at once
	h := newNeighHarness(t, cfg)
	var entries int
	h.onRequest = func(r neighRequest) {
		entries += len(h.c.Entries())
		if r.target == neighAddr2 {
			// An instant answer, from inside the solicitation.
			h.c.HandleConfirmation(neighAddr2, neighLink2, ReachabilityConfirmationFlags{Solicited: true})
		}
	}
	h.onWrite = func(int, neighRecord) {
		h.c.HandleUpperLevelConfirmation(neighAddr1)
		h.c.Entry(neighAddr1)
	}
	h.onFail = func(r neighRecord) {
		// Answer a failure by trying again.
		h.c.Resolve(r.addr, netip.Addr{}, nil)
	}
	h.send(neighAddr2, "instant")
	if _, writes, _ := h.take(); !slices.Equal(payloadsOf(writes), []string{"instant"}) {
		t.Fatalf("writes %v", writes)
	}
	h.wantEntry(neighAddr2, NeighborReachable, neighLink2)
	h.toReachable()
	h.send(neighAddr1, "w")
	h.send(neighAddr3, "f")
	h.clock.Advance(3 * time.Second)
	h.wantEntry(neighAddr3, NeighborUnreachable, neighNoLink)
	done := 0
	h.c.Resolve(neighAddr4, netip.Addr{}, func(la tcpip.LinkAddress, err error) {
		h.lockFree("Resolve callback")
		done++
		h.c.Resolve(neighAddr4, netip.Addr{}, nil)
		h.c.Remove(neighAddr4)
	})
	h.c.HandleConfirmation(neighAddr4, neighLink1, ReachabilityConfirmationFlags{Solicited: true})
	if done != 1 {
		t.Fatalf("callback ran %d times", done)
	}
	h.wantEntry(neighAddr4, NeighborUnknown, neighNoLink)
	if entries == 0 {
		t.Fatal("resolver hook not run")
	}
}

// TestNeighborFlushOrder checks that packets sent while the queue of a
// resolved entry is being written go out after it.
func TestNeighborFlushOrder(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	h.send(neighAddr1, "q1")
	h.send(neighAddr1, "q2")
	n := 0
	h.onWrite = func(i int, r neighRecord) {
		if n++; n == 1 {
			// Sent by a "different goroutine" while q1 is written.
			h.send(neighAddr1, "late")
		}
	}
	var order []string
	h.c.HandleConfirmation(neighAddr1, neighLink1, ReachabilityConfirmationFlags{Solicited: true})
	_, writes, _ := h.take()
	order = payloadsOf(writes)
	if !slices.Equal(order, []string{"q1", "q2", "late"}) {
		t.Fatalf("order %v", order)
	}
	if h.c.entries[neighAddr1].flushing {
		t.Fatal("still flushing")
	}
}

// TestNeighborConcurrent sends from several goroutines while confirmations,
// probes, removals and the clock run in others (go test -race), then checks
// that every packet was written, failed or dropped exactly once.
func TestNeighborConcurrent(t *testing.T) {
	cfg := DefaultNUDConfig()
	cfg.MaxEntries = 8
	cfg.MaxQueuedPackets = 4
	h := newNeighHarness(t, cfg)
	h.checkLock = false // other goroutines hold the lock legitimately
	addrs := make([]netip.Addr, 10)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
	}
	const senders, perSender = 4, 500
	var sent atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range perSender {
				a := addrs[r.IntN(len(addrs))]
				// ErrWouldBlock: refused behind a flush
				// (sendBehindFlushLocked), counted as a queue drop.
				if err := h.c.Send(a, neighLocal, neighPkt(fmt.Sprint(g, i))); err != nil && !errors.Is(err, tcpip.ErrWouldBlock) {
					t.Errorf("Send: %v", err)
				}
				sent.Add(1)
				if i%50 == 0 {
					h.c.Resolve(a, neighLocal, func(tcpip.LinkAddress, error) {})
				}
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		r := rand.New(rand.NewPCG(99, 7))
		for {
			select {
			case <-stop:
				return
			default:
			}
			a := addrs[r.IntN(len(addrs))]
			switch r.IntN(6) {
			case 0:
				h.c.HandleConfirmation(a, neighLink1, ReachabilityConfirmationFlags{Solicited: r.IntN(2) == 0, Override: r.IntN(2) == 0})
			case 1:
				h.c.HandleProbe(a, neighLink2)
			case 2:
				h.c.HandleUpperLevelConfirmation(a)
			case 3:
				h.c.Entries()
			case 4:
				if r.IntN(20) == 0 {
					h.c.Remove(a)
				}
			case 5:
				if r.IntN(50) == 0 {
					h.c.AddStatic(a, neighLink1)
				}
			}
		}
	}()
	// The clock advances on this goroutine.
	go func() { wg.Wait(); close(stop) }()
	for {
		select {
		case <-stop:
		default:
			h.clock.Advance(10 * time.Millisecond)
			continue
		}
		break
	}
	bg.Wait()
	h.clock.Advance(time.Minute)
	h.c.Close()

	_, writes, fails := h.take()
	got := int64(len(payloadsOf(writes)) + len(payloadsOf(fails)) + int(h.c.Stats().QueueDrops.Load()))
	t.Logf("written %d, failed %d, dropped %d, evictions %d, probe failures %d, resolution failures %d",
		len(payloadsOf(writes)), len(payloadsOf(fails)), h.c.Stats().QueueDrops.Load(), h.c.Stats().Evictions.Load(),
		h.c.Stats().ProbeFailures.Load(), h.c.Stats().ResolutionFailures.Load())
	if got != sent.Load() {
		t.Fatalf("%d packets written, failed or dropped; %d sent", got, sent.Load())
	}
	if got, want := h.droppedTotal(), int(h.c.Stats().QueueDrops.Load()); got != want {
		t.Fatalf("QueueDropped told %d drops, QueueDrops = %d", got, want)
	}
}

// TestNeighborSendAllocs checks that sending to a resolved neighbour does
// not allocate (DESIGN.md principle 7).
func TestNeighborSendAllocs(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	const runs = 100
	pkts := make([]*buffer.Packet, runs+1)
	for i := range pkts {
		pkts[i] = neighPkt("x")
	}
	// A sink that only releases, so that the harness's recording does
	// not count.
	c := NewNeighborCache(DefaultNUDConfig(), h.clock, nil, neighResolver{h}, neighReleaseOutput{})
	defer c.Close()
	c.Resolve(neighAddr2, netip.Addr{}, nil)
	c.HandleConfirmation(neighAddr2, neighLink2, ReachabilityConfirmationFlags{Solicited: true})
	h.reset()
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		c.Send(neighAddr2, neighLocal, pkts[i])
		c.HandleUpperLevelConfirmation(neighAddr2)
		i++
	})
	if allocs != 0 {
		t.Fatalf("Send to a REACHABLE neighbour: %v allocations", allocs)
	}
}

type neighReleaseOutput struct{}

func (neighReleaseOutput) WriteResolved(_ netip.Addr, _ tcpip.LinkAddress, pkts []*buffer.Packet) {
	for _, p := range pkts {
		p.Release()
	}
}

func (neighReleaseOutput) ResolutionFailed(_ netip.Addr, pkts []*buffer.Packet) {
	for _, p := range pkts {
		p.Release()
	}
}

// TestNeighborEntries checks the snapshot: sorted, with IsRouter and
// UpdatedAt.
func TestNeighborEntries(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	h.c.HandleProbe(neighAddr6, neighLink2)
	h.clock.Advance(time.Second)
	h.c.AddStatic(neighAddr3, neighLink1)
	h.send(neighAddr1, "p")
	h.c.HandleConfirmation(neighAddr6, neighLink2, ReachabilityConfirmationFlags{Solicited: true, IsRouter: true})
	got := h.c.Entries()
	want := []NeighborEntry{
		{Addr: neighAddr1, State: NeighborIncomplete, UpdatedAt: h.start.Add(time.Second)},
		{Addr: neighAddr3, LinkAddr: neighLink1, State: NeighborStatic, UpdatedAt: h.start.Add(time.Second)},
		{Addr: neighAddr6, LinkAddr: neighLink2, State: NeighborReachable, UpdatedAt: h.start.Add(time.Second), IsRouter: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Entries() =\n%+v\nwant\n%+v", got, want)
	}
	if _, ok := h.c.Entry(neighAddr2); ok {
		t.Fatal("Entry of an unknown address")
	}
	if got := h.c.Config(); got != DefaultNUDConfig() {
		t.Fatalf("Config() = %+v", got)
	}
}

// TestNeighborFlushOverflow checks that packets queued behind a flush are
// bounded: beyond MaxQueuedPackets the newest is refused with
// ErrWouldBlock, as by a full link queue, and what was queued is kept.
func TestNeighborFlushOverflow(t *testing.T) {
	cfg := DefaultNUDConfig()
	cfg.MaxQueuedPackets = 1
	h := newNeighHarness(t, cfg)
	h.send(neighAddr1, "q")
	n := 0
	var late2 error
	h.onWrite = func(int, neighRecord) {
		if n++; n == 1 {
			h.send(neighAddr1, "late1")
			late2 = h.c.Send(neighAddr1, netip.Addr{}, neighPkt("late2"))
		}
	}
	h.c.HandleConfirmation(neighAddr1, neighLink1, ReachabilityConfirmationFlags{Solicited: true})
	if late2 != tcpip.ErrWouldBlock {
		t.Errorf("Send behind a full flush queue = %v, want ErrWouldBlock", late2)
	}
	if _, writes, _ := h.take(); !slices.Equal(payloadsOf(writes), []string{"q", "late1"}) {
		t.Fatalf("writes %v, want q late1", writes)
	}
	if h.dropped[neighAddr1] != 1 || h.c.Stats().QueueDrops.Load() != 1 {
		t.Fatalf("drops told %v, counted %d; want 1", h.dropped, h.c.Stats().QueueDrops.Load())
	}
}

// TestNeighborRaces checks what Send and Resolve do when the entry changes
// while they have released the lock (to ask the resolver for a static link
// address), and the timer callback's defences against stale calls.
func TestNeighborRaces(t *testing.T) {
	t.Run("resolved meanwhile", func(t *testing.T) {
		h := newNeighHarness(t, DefaultNUDConfig())
		h.onStatic = func(a netip.Addr) { h.c.AddStatic(a, neighLink2) }
		h.send(neighAddr1, "p")
		if _, writes, _ := h.take(); len(writes) != 1 || writes[0].linkAddr != neighLink2 {
			t.Fatalf("writes %v", writes)
		}
		h.c.Remove(neighAddr1)
		if la, err := h.c.Resolve(neighAddr1, netip.Addr{}, nil); la != neighLink2 || err != nil {
			t.Fatalf("Resolve = %v, %v", la, err)
		}
	})
	t.Run("stale meanwhile", func(t *testing.T) {
		h := newNeighHarness(t, DefaultNUDConfig())
		h.onStatic = func(a netip.Addr) { h.c.HandleProbe(a, neighLink2) }
		h.send(neighAddr1, "p")
		h.wantEntry(neighAddr1, NeighborDelay, neighLink2)
	})
	t.Run("closed meanwhile", func(t *testing.T) {
		h := newNeighHarness(t, DefaultNUDConfig())
		h.onStatic = func(netip.Addr) { h.c.Close() }
		if err := h.c.Send(neighAddr1, netip.Addr{}, neighPkt("p")); err != tcpip.ErrNetworkDown {
			t.Fatalf("Send = %v", err)
		}
		if _, err := h.c.Resolve(neighAddr2, netip.Addr{}, nil); err != tcpip.ErrNetworkDown {
			t.Fatalf("Resolve = %v", err)
		}
	})
	t.Run("stale timer calls", func(t *testing.T) {
		h := newNeighHarness(t, DefaultNUDConfig())
		h.toReachable()
		e := h.c.entries[neighAddr1]
		pending := h.clock.Pending()
		// A call before the deadline (a Reset raced with the call):
		// nothing changes, the deadline stays armed.
		h.c.timerFired(e)
		h.wantEntry(neighAddr1, NeighborReachable, neighLink1)
		if d, _ := h.clock.NextDeadline(); d != e.due || h.clock.Pending() != pending {
			t.Fatalf("deadline %v, want %v; %d pending", d, e.due, h.clock.Pending())
		}
		// Calls for a disarmed (static) or removed entry do nothing.
		h.c.AddStatic(neighAddr1, neighLink1)
		h.c.timerFired(e)
		h.wantEntry(neighAddr1, NeighborStatic, neighLink1)
		h.c.Remove(neighAddr1)
		h.c.timerFired(e)
		h.wantEntry(neighAddr1, NeighborUnknown, neighNoLink)
		if reqs, writes, fails := h.take(); len(reqs)+len(writes)+len(fails) != 0 {
			t.Fatalf("requests %v writes %v fails %v", reqs, writes, fails)
		}
	})
}

// TestNeighborRealClock runs a resolution on the real clock.
func TestNeighborRealClock(t *testing.T) {
	h := newNeighHarness(t, DefaultNUDConfig())
	cfg := DefaultNUDConfig()
	cfg.RetransmitTimer = time.Millisecond
	c := NewNeighborCache(cfg, nil, nil, neighResolver{h}, neighOutput{h})
	done := make(chan error, 1)
	if _, err := c.Resolve(neighAddr1, netip.Addr{}, func(_ tcpip.LinkAddress, err error) { done <- err }); err != tcpip.ErrWouldBlock {
		t.Fatalf("Resolve = %v", err)
	}
	select {
	case err := <-done:
		if err != tcpip.ErrHostUnreachable {
			t.Fatalf("callback %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no callback")
	}
	c.Resolve(neighAddr2, netip.Addr{}, nil)
	c.HandleConfirmation(neighAddr2, neighLink2, ReachabilityConfirmationFlags{Solicited: true})
	if la, err := c.Resolve(neighAddr2, netip.Addr{}, nil); la != neighLink2 || err != nil {
		t.Fatalf("Resolve = %v, %v", la, err)
	}
	c.Close()
}
