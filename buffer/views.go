package buffer

import (
	"math/bits"
	"unsafe"
)

// view is a run of bytes of one chunk: c.data[off:off+n]. A view holds one
// reference to its chunk. A Buffer never holds an empty view.
type view struct {
	c   *chunk
	off int
	n   int
}

// bytes returns the view's bytes, capped so that appending to the result
// cannot write into the chunk past the view.
func (v *view) bytes() []byte { return v.c.data[v.off : v.off+v.n : v.off+v.n] }

// end returns the offset in the chunk just past the view.
func (v *view) end() int { return v.off + v.n }

// inlineViews is how many views a Buffer holds without a slab: enough for
// the payload of almost every packet (one view, or two when a segment spans
// a chunk boundary), so that moving packets between layers never touches a
// pool for the view list.
const inlineViews = 3

// viewSlab is the out-of-line view list of a Buffer with more than
// inlineViews views, used as a deque: the live views are v[head:head+n].
// Slabs come from pools by power-of-two capacity; slots outside the live
// range are kept zero so that a pooled slab pins no chunk.
type viewSlab struct {
	v     []view
	class int8 // index into slabPools, or -1 for an unpooled slab
}

const (
	slabMinShift   = 3
	slabMaxShift   = 16
	slabNumClasses = slabMaxShift - slabMinShift + 1
)

var slabPools [slabNumClasses]freeList[viewSlab]

func init() {
	for i := range slabPools {
		size := 1 << (slabMinShift + i)
		class := int8(i)
		slabPools[i].init(reserveObjects/8, size*int(unsafe.Sizeof(view{})), func(dst []*viewSlab, n int) []*viewSlab {
			ss := make([]viewSlab, n)
			vs := make([]view, n*size)
			for j := range ss {
				ss[j] = viewSlab{v: vs[j*size : (j+1)*size : (j+1)*size], class: class}
				dst = append(dst, &ss[j])
			}
			return dst
		})
	}
}

// getSlab returns a zeroed slab with room for at least n views.
func getSlab(n int) *viewSlab {
	class := 0
	if n > 1<<slabMinShift {
		class = bits.Len(uint(n-1)) - slabMinShift
	}
	if class >= slabNumClasses {
		return &viewSlab{v: make([]view, n), class: -1}
	}
	return slabPools[class].get()
}

// putSlab returns s to its pool; the caller has zeroed its views.
func putSlab(s *viewSlab) {
	if s.class >= 0 {
		slabPools[s.class].put(s)
	}
}

// The view-list primitives below move views without touching reference
// counts; the Buffer operations account for references themselves.
//
// Invariant: b.slab != nil exactly when b.n > inlineViews. Without a slab
// the views are b.inline[:b.n] and b.head is zero.

// views returns b's views in order. The slice aliases b's storage and is
// valid until the next change to b's view list.
func (b *Buffer) views() []view {
	if b.slab == nil {
		return b.inline[:b.n]
	}
	return b.slab.v[b.head : b.head+b.n]
}

// lastView returns the tail view; b must not be empty.
func (b *Buffer) lastView() *view {
	if b.slab == nil {
		return &b.inline[b.n-1]
	}
	return &b.slab.v[b.head+b.n-1]
}

// spill moves the inline views into a slab with room for at least n views,
// placing them at index head.
func (b *Buffer) spill(n, head int) {
	s := getSlab(n)
	copy(s.v[head:], b.inline[:b.n])
	b.inline = [inlineViews]view{}
	b.slab, b.head = s, head
}

// reslab moves the slab's views into a new slab with room for at least n
// views, placing them at index head.
func (b *Buffer) reslab(n, head int) {
	old := b.slab
	s := getSlab(n)
	live := old.v[b.head : b.head+b.n]
	copy(s.v[head:], live)
	clear(live)
	putSlab(old)
	b.slab, b.head = s, head
}

// pushBack appends v to the view list.
func (b *Buffer) pushBack(v view) {
	switch {
	case b.slab == nil && b.n < inlineViews:
		b.inline[b.n] = v
		b.n++
		return
	case b.slab == nil:
		b.spill(2*inlineViews, 0)
	case b.head+b.n == len(b.slab.v):
		if b.n <= len(b.slab.v)/2 {
			// Slide the live views to the front: cheaper than a
			// bigger slab when the deque has drained at the front.
			live := b.slab.v[b.head : b.head+b.n]
			copy(b.slab.v, live)
			clear(b.slab.v[b.n : b.head+b.n])
			b.head = 0
		} else {
			b.reslab(2*len(b.slab.v), 0)
		}
	}
	b.slab.v[b.head+b.n] = v
	b.n++
}

// pushFront inserts v before the first view.
func (b *Buffer) pushFront(v view) {
	switch {
	case b.slab == nil && b.n < inlineViews:
		copy(b.inline[1:b.n+1], b.inline[:b.n])
		b.inline[0] = v
		b.n++
		return
	case b.slab == nil:
		b.spill(2*inlineViews, 1)
	case b.head == 0:
		b.reslab(2*len(b.slab.v), len(b.slab.v))
	}
	b.head--
	b.slab.v[b.head] = v
	b.n++
}

// dropFront removes the first k views from the list.
func (b *Buffer) dropFront(k int) {
	if b.slab == nil {
		copy(b.inline[:], b.inline[k:b.n])
		clear(b.inline[b.n-k : b.n])
		b.n -= k
		return
	}
	clear(b.slab.v[b.head : b.head+k])
	b.head += k
	b.n -= k
	b.unspill()
}

// dropBack removes the last k views from the list.
func (b *Buffer) dropBack(k int) {
	if b.slab == nil {
		clear(b.inline[b.n-k : b.n])
		b.n -= k
		return
	}
	clear(b.slab.v[b.head+b.n-k : b.head+b.n])
	b.n -= k
	b.unspill()
}

// unspill returns the slab once the views fit inline again, so that a
// drained queue does not keep a large slab.
func (b *Buffer) unspill() {
	if b.n > inlineViews {
		return
	}
	live := b.slab.v[b.head : b.head+b.n]
	copy(b.inline[:], live)
	clear(live)
	putSlab(b.slab)
	b.slab, b.head = nil, 0
}

// forget empties b without dropping the references of its views, which the
// caller has taken over.
func (b *Buffer) forget() {
	if b.slab != nil {
		clear(b.slab.v[b.head : b.head+b.n])
		putSlab(b.slab)
	}
	*b = Buffer{}
}

// take moves o's views to b, which must be empty, and leaves o empty.
func (b *Buffer) take(o *Buffer) {
	b.size, b.n, b.head = o.size, o.n, o.head
	b.inline, b.slab = o.inline, o.slab
	*o = Buffer{}
}
