// Package seqnum implements TCP sequence-number arithmetic: the modulo 2^32
// comparisons of RFC 9293 §3.4 and the serial-number arithmetic of RFC 1982.
//
// Sequence numbers wrap: after 0xffffffff comes 0. Two numbers are ordered
// by the signed distance from one to the other, so 0xfffffff0 is before 0x10
// (16+16 = 32 apart) even though it is the larger integer. Never compare the
// raw uint32 values with < or >, nor convert a Value to uint32 to order it:
// that gives the wrong answer on every connection whose sequence space
// crosses 2^32, which happens to any connection that moves 4 GiB or starts
// with an initial sequence number near the top. Use the methods of Value
// (LessThan, InWindow, …) and the Size distances instead.
//
// RFC 1982 §3.2 leaves the order of two numbers exactly 2^31 apart
// undefined. Here, as in Linux's before()/after(), each of them is LessThan
// the other; TCP never compares numbers that far apart, since windows are
// at most 2^30 bytes (RFC 7323 §2.3).
package seqnum

// Value is a sequence number: a point in the modulo 2^32 sequence space.
// The zero value is the sequence number 0, which has no special meaning.
type Value uint32

// Size is a distance in the sequence space: a number of sequence numbers,
// such as a segment's length (data plus SYN and FIN) or a window.
type Size uint32

// LessThan reports whether v comes before w in the sequence space
// (RFC 9293 §3.4 "<" modulo 2^32): the signed distance from w to v is
// negative.
func (v Value) LessThan(w Value) bool {
	return int32(v-w) < 0
}

// LessThanEq reports whether v comes before w or equals it.
func (v Value) LessThanEq(w Value) bool {
	return int32(v-w) <= 0
}

// GreaterThan reports whether v comes after w; it is w.LessThan(v).
func (v Value) GreaterThan(w Value) bool {
	return w.LessThan(v)
}

// GreaterThanEq reports whether v comes after w or equals it; it is
// w.LessThanEq(v).
func (v Value) GreaterThanEq(w Value) bool {
	return w.LessThanEq(v)
}

// InRange reports whether a ≤ v < b in the sequence space, that is, whether
// v lies in the half-open range that starts at a and runs forward to b.
// The range is empty when a == b. It is wrap-safe: the test is on the
// distances from a, so it holds across 2^32.
func (v Value) InRange(a, b Value) bool {
	return v-a < b-a
}

// InWindow reports whether v lies in the window of size sequence numbers
// that starts at first: first ≤ v < first+size (RFC 9293 §3.10.7.4, the
// acceptability tests). A window of size 0 contains nothing; the special
// rule of §3.10.7.4 for zero windows (a zero-length segment at RCV.NXT is
// acceptable) is the caller's.
func (v Value) InWindow(first Value, size Size) bool {
	return Size(v-first) < size
}

// Add returns the sequence number s after v.
func (v Value) Add(s Size) Value {
	return v + Value(s)
}

// Sub returns the sequence number s before v.
func (v Value) Sub(s Size) Value {
	return v - Value(s)
}

// Size returns the distance from v forward to to: the number of sequence
// numbers in [v, to). If to is before v the result is the distance going
// forward around the whole space, so callers compare first when to may
// precede v.
func (v Value) Size(to Value) Size {
	return Size(to - v)
}

// UpdateForward advances *v by s, as the send and receive pointers
// (SND.NXT, RCV.NXT) move when sequence numbers are consumed.
func (v *Value) UpdateForward(s Size) {
	*v += Value(s)
}

// Overlap reports whether the ranges [a, a+an) and [b, b+bn) share at least
// one sequence number. Empty ranges overlap nothing.
func Overlap(a Value, an Size, b Value, bn Size) bool {
	// Two arcs of the circle meet exactly when one starts inside the
	// other: walking back from a common point, one reaches the nearer
	// start first, and that start lies within the other arc.
	if an == 0 || bn == 0 {
		return false
	}
	return a.InWindow(b, bn) || b.InWindow(a, an)
}

// Max returns whichever of a and b comes later in the sequence space.
func Max(a, b Value) Value {
	if a.LessThan(b) {
		return b
	}
	return a
}

// Min returns whichever of a and b comes earlier in the sequence space.
func Min(a, b Value) Value {
	if a.LessThan(b) {
		return a
	}
	return b
}
