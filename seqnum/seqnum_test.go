package seqnum

import (
	"fmt"
	"math/rand"
	"testing"
	"testing/quick"
)

// seqnumBases are the points around which the property tests pick numbers:
// the two edges of the wrap (0 and 2^32), the middle of the space, and a
// few arbitrary ones.
var seqnumBases = []int64{0, 1 << 32, 1 << 31, 1<<32 - 1, 12345678, 0xdeadbeef}

// seqnumPick returns an unwrapped sequence number (an int64 on the real
// line) within ±spread of a base; its Value is the number modulo 2^32.
func seqnumPick(r *rand.Rand, spread int64) int64 {
	base := seqnumBases[r.Intn(len(seqnumBases))]
	return base + r.Int63n(2*spread+1) - spread
}

func seqnumWrap(x int64) Value { return Value(uint32(x)) }

// TestCompareWrap checks the comparisons against ordinary integer order on
// unwrapped numbers less than 2^31 apart, picked around the wrap points.
func TestCompareWrap(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, spread := range []int64{4, 1 << 10, 1 << 29} {
		for range 20000 {
			x, y := seqnumPick(r, spread), seqnumPick(r, spread)
			if d := x - y; d >= 1<<31 || d <= -(1<<31) {
				// The base points are 2^31 or more apart: the
				// unwrapped numbers are then not comparable
				// modulo 2^32; move y next to x.
				y = x + (y % spread)
			}
			v, w := seqnumWrap(x), seqnumWrap(y)
			checks := []struct {
				name     string
				got, exp bool
			}{
				{"LessThan", v.LessThan(w), x < y},
				{"LessThanEq", v.LessThanEq(w), x <= y},
				{"GreaterThan", v.GreaterThan(w), x > y},
				{"GreaterThanEq", v.GreaterThanEq(w), x >= y},
			}
			for _, c := range checks {
				if c.got != c.exp {
					t.Fatalf("%#x.%s(%#x) = %v, want %v (unwrapped %d, %d)", uint32(v), c.name, uint32(w), c.got, c.exp, x, y)
				}
			}
			mx, mn := Max(v, w), Min(v, w)
			if x < y && (mx != w || mn != v) || x >= y && (mx != v || mn != w) {
				t.Fatalf("Max/Min(%#x, %#x) = %#x, %#x", uint32(v), uint32(w), uint32(mx), uint32(mn))
			}
		}
	}
}

// TestRangeWrap checks InRange and InWindow against integer order on
// unwrapped numbers, with windows that straddle 0 and 2^32.
func TestRangeWrap(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, spread := range []int64{8, 1 << 12, 1 << 28} {
		for range 20000 {
			first := seqnumPick(r, spread)
			size := r.Int63n(2 * spread)
			x := first + r.Int63n(4*spread+1) - 2*spread
			v, a := seqnumWrap(x), seqnumWrap(first)
			b := seqnumWrap(first + size)
			want := first <= x && x < first+size
			if got := v.InWindow(a, Size(size)); got != want {
				t.Fatalf("%#x.InWindow(%#x, %d) = %v, want %v", uint32(v), uint32(a), size, got, want)
			}
			if got := v.InRange(a, b); got != want {
				t.Fatalf("%#x.InRange(%#x, %#x) = %v, want %v", uint32(v), uint32(a), uint32(b), got, want)
			}
		}
	}
}

func TestRangeEdges(t *testing.T) {
	tests := []struct {
		v, first Value
		size     Size
		want     bool
	}{
		{0, 0, 0, false},
		{0, 0, 1, true},
		{1, 0, 1, false},
		{0xffffffff, 0xffffffff, 1, true},
		{0, 0xffffffff, 1, false},
		{0, 0xffffffff, 2, true},
		{0xfffffffe, 0xffffffff, 2, false},
		{5, 0xfffffff0, 0x16, true},
		{6, 0xfffffff0, 0x16, false},
		{0xffffffef, 0xfffffff0, 0x16, false},
		// The largest window holds every number but the one before it.
		{0x12345677, 0x12345678, 0xffffffff, false},
		{0x12345676, 0x12345678, 0xffffffff, true},
		{0x12345678, 0x12345678, 0xffffffff, true},
	}
	for _, tt := range tests {
		if got := tt.v.InWindow(tt.first, tt.size); got != tt.want {
			t.Errorf("%#x.InWindow(%#x, %#x) = %v, want %v", uint32(tt.v), uint32(tt.first), uint32(tt.size), got, tt.want)
		}
		if got := tt.v.InRange(tt.first, tt.first.Add(tt.size)); got != tt.want {
			t.Errorf("%#x.InRange(%#x, +%#x) = %v, want %v", uint32(tt.v), uint32(tt.first), uint32(tt.size), got, tt.want)
		}
	}
}

// TestHalfSpace pins the behaviour RFC 1982 §3.2 leaves undefined: numbers
// exactly 2^31 apart are each LessThan the other, and GreaterThan stays the
// mirror of LessThan.
func TestHalfSpace(t *testing.T) {
	for _, v := range []Value{0, 1, 1 << 31, 0xffffffff, 0x9abcdef0} {
		w := v.Add(1 << 31)
		if !v.LessThan(w) || !w.LessThan(v) {
			t.Errorf("%#x and %#x: LessThan both ways = %v, %v; want true, true", uint32(v), uint32(w), v.LessThan(w), w.LessThan(v))
		}
		if v.GreaterThan(w) != w.LessThan(v) || w.GreaterThan(v) != v.LessThan(w) {
			t.Errorf("%#x and %#x: GreaterThan is not the mirror of LessThan", uint32(v), uint32(w))
		}
	}
}

func TestArithmeticQuick(t *testing.T) {
	cfg := &quick.Config{Rand: rand.New(rand.NewSource(3)), MaxCount: 20000}
	props := map[string]any{
		"add-sub": func(v Value, s Size) bool { return v.Add(s).Sub(s) == v },
		"sub-add": func(v Value, s Size) bool { return v.Sub(s).Add(s) == v },
		"size":    func(v Value, s Size) bool { return v.Size(v.Add(s)) == s },
		"size-sub": func(v, w Value) bool {
			return w.Sub(v.Size(w)) == v
		},
		"update-forward": func(v Value, s Size) bool {
			u := v
			u.UpdateForward(s)
			return u == v.Add(s)
		},
		"mirror": func(v, w Value) bool {
			return v.LessThan(w) == w.GreaterThan(v) && v.LessThanEq(w) == w.GreaterThanEq(v)
		},
		"eq": func(v, w Value) bool {
			return v.LessThanEq(w) == (v.LessThan(w) || v == w) &&
				v.GreaterThanEq(w) == (v.GreaterThan(w) || v == w)
		},
		"antisymmetric": func(v, w Value) bool {
			if v.Size(w) == 1<<31 {
				return true // undefined by RFC 1982 §3.2; see TestHalfSpace
			}
			return !(v.LessThan(w) && w.LessThan(v)) && (v == w || v.LessThan(w) || w.LessThan(v))
		},
		"add-is-after": func(v Value, s Size) bool {
			s %= 1 << 31
			return s == 0 || v.LessThan(v.Add(s)) && v.Add(s).GreaterThan(v)
		},
		"window-is-range": func(v, a Value, s Size) bool {
			return v.InWindow(a, s) == v.InRange(a, a.Add(s))
		},
	}
	for name, f := range props {
		if err := quick.Check(f, cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestOverlap compares Overlap with a count of shared numbers on small
// ranges placed around the wrap.
func TestOverlap(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for range 20000 {
		a := seqnumWrap(seqnumPick(r, 40))
		b := a.Add(Size(r.Intn(80))).Sub(40)
		an, bn := Size(r.Intn(40)), Size(r.Intn(40))
		want := false
		for i := Size(0); i < an; i++ {
			if a.Add(i).InWindow(b, bn) {
				want = true
				break
			}
		}
		if got := Overlap(a, an, b, bn); got != want {
			t.Fatalf("Overlap(%#x, %d, %#x, %d) = %v, want %v", uint32(a), an, uint32(b), bn, got, want)
		}
		if Overlap(a, an, b, bn) != Overlap(b, bn, a, an) {
			t.Fatalf("Overlap(%#x, %d, %#x, %d) is not symmetric", uint32(a), an, uint32(b), bn)
		}
	}
	// Large ranges that meet only across 2^32.
	if !Overlap(0xfff00000, 0x00100001, 0, 1) {
		t.Error("[0xfff00000, +0x100001) should contain 0")
	}
	if Overlap(0xfff00000, 0x00100000, 0, 1) {
		t.Error("[0xfff00000, +0x100000) should end just before 0")
	}
}

// seqnumAcceptable is the segment acceptability test of RFC 9293 §3.10.7.4,
// written with InWindow: a segment of segLen sequence numbers starting at
// seq is acceptable for a receive window [rcvNxt, rcvNxt+rcvWnd) if
//
//	length 0, window 0:   SEG.SEQ = RCV.NXT
//	length 0, window >0:  RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
//	length >0, window 0:  not acceptable
//	length >0, window >0: RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
//	                   or RCV.NXT =< SEG.SEQ+SEG.LEN-1 < RCV.NXT+RCV.WND
func seqnumAcceptable(seq Value, segLen Size, rcvNxt Value, rcvWnd Size) bool {
	switch {
	case segLen == 0 && rcvWnd == 0:
		return seq == rcvNxt
	case segLen == 0:
		return seq.InWindow(rcvNxt, rcvWnd)
	case rcvWnd == 0:
		return false
	default:
		return seq.InWindow(rcvNxt, rcvWnd) || seq.Add(segLen-1).InWindow(rcvNxt, rcvWnd)
	}
}

func TestAcceptability(t *testing.T) {
	const top = Value(0xffffffff)
	tests := []struct {
		name   string
		seq    Value
		segLen Size
		rcvNxt Value
		rcvWnd Size
		want   bool
	}{
		// Zero-length segment, zero window: only RCV.NXT itself.
		{"empty/zero wnd/at nxt", 1000, 0, 1000, 0, true},
		{"empty/zero wnd/before nxt", 999, 0, 1000, 0, false},
		{"empty/zero wnd/after nxt", 1001, 0, 1000, 0, false},
		{"empty/zero wnd/at nxt across wrap", top, 0, top, 0, true},
		// Zero-length segment, open window.
		{"empty/at nxt", 1000, 0, 1000, 100, true},
		{"empty/last in wnd", 1099, 0, 1000, 100, true},
		{"empty/just past wnd", 1100, 0, 1000, 100, false},
		{"empty/just before nxt", 999, 0, 1000, 100, false},
		{"empty/wnd straddles wrap, before 0", top - 5, 0, top - 10, 100, true},
		{"empty/wnd straddles wrap, after 0", 50, 0, top - 10, 100, true},
		{"empty/wnd straddles wrap, past end", 89, 0, top - 10, 100, false},
		{"empty/wnd straddles wrap, last", 88, 0, top - 10, 100, true},
		// Data, zero window: never acceptable, even at RCV.NXT.
		{"data/zero wnd/at nxt", 1000, 1, 1000, 0, false},
		{"data/zero wnd/across wrap", top, 10, top, 0, false},
		// Data, open window: either end inside the window.
		{"data/inside", 1010, 10, 1000, 100, true},
		{"data/starts before, ends inside", 990, 20, 1000, 100, true},
		{"data/starts before, ends at nxt", 990, 11, 1000, 100, true},
		{"data/entirely before (retransmission)", 990, 10, 1000, 100, false},
		{"data/starts inside, runs past", 1090, 20, 1000, 100, true},
		{"data/starts past wnd", 1100, 10, 1000, 100, false},
		// RFC 9293's test looks at the two ends only: a segment that
		// covers the whole window from before it to after it is
		// not acceptable as written.
		{"data/covers wnd from both sides", 990, 200, 1000, 100, false},
		{"data/wrap: starts before 0, ends after", top - 4, 10, top - 2, 100, true},
		{"data/wrap: seq before nxt across 0", top - 20, 10, 5, 100, false},
		{"data/wrap: ends at nxt from before 0", top - 3, 10, 5, 100, true},
		{"data/wrap: ends just before nxt", top - 4, 10, 5, 100, false},
		{"data/wrap: SYN+FIN of len 2 at nxt 0xffffffff", top, 2, top, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqnumAcceptable(tt.seq, tt.segLen, tt.rcvNxt, tt.rcvWnd); got != tt.want {
				t.Errorf("acceptable(seq %#x, len %d, nxt %#x, wnd %d) = %v, want %v", uint32(tt.seq), tt.segLen, uint32(tt.rcvNxt), tt.rcvWnd, got, tt.want)
			}
		})
	}
}

func TestAllocs(t *testing.T) {
	var v Value = 0xfffffff0
	n := testing.AllocsPerRun(100, func() {
		v.UpdateForward(Size(v.Size(Max(v, 5))))
		_ = Overlap(v, 10, Min(v, 3), 5) && v.InWindow(3, 4) && v.InRange(1, 2)
	})
	if n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
}

// Example shows why sequence numbers must be compared with their methods.
func Example() {
	snd := Value(0xfffffff0) // near the top of the space
	next := snd.Add(32)      // 32 later, past 0: 0x10
	fmt.Println(uint32(next) < uint32(snd), next.GreaterThan(snd))
	fmt.Println(snd.Size(next), Value(5).InWindow(snd, 32))
	// Output:
	// true true
	// 32 true
}
