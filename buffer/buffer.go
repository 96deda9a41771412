package buffer

// noCopy makes go vet's copylocks check report copies of the struct that
// embeds it (it has the Lock and Unlock methods the check looks for).
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// Buffer is a payload: an ordered list of views of pooled chunks. Its
// operations move, split and share views instead of copying bytes; see the
// package doc for the sharing rules.
//
// The zero Buffer is empty and ready to use. A Buffer must not be copied
// after first use (go vet reports copies): pass *Buffer, and hand a payload
// over with Merge or with the methods that return a new Buffer (Split,
// Clone, CloneRange, Take), which move or share views explicitly. A Buffer
// is not safe for concurrent use, but distinct Buffers that share chunks
// (clones) may be used and released concurrently.
//
// Operations given a length or offset outside the Buffer panic, as slicing
// would.
type Buffer struct {
	_      noCopy
	size   int // total bytes of the views
	n      int // number of views
	head   int // index of the first view in slab
	inline [inlineViews]view
	slab   *viewSlab
}

// Len returns the number of bytes in b.
func (b *Buffer) Len() int { return b.size }

// Size returns the memory b holds: the sum of the sizes of the chunks its
// views refer to, each chunk counted once per view. Like Linux's truesize it
// is what buffer limits should charge; it is at least Len.
func (b *Buffer) Size() int {
	s := 0
	for _, v := range b.views() {
		s += len(v.c.data)
	}
	return s
}

// Append copies p to the end of b. The bytes go into the rest of the tail
// chunk when no other view can see that space (see the package doc),
// otherwise into new chunks. A new chunk is sized for the rest of p, but at
// least for b's length up to 16 KiB, so that a Buffer built by many small
// appends has few views while holding at most about twice its length.
func (b *Buffer) Append(p []byte) {
	for len(p) > 0 {
		if room := b.tailRoom(); room > 0 {
			if k := min(room, len(p)); b.claimTail(k) {
				t := b.lastView()
				copy(t.c.data[t.end():], p[:k])
				t.n += k
				b.size += k
				p = p[k:]
				continue
			}
		}
		k := min(len(p), MaxChunkSize)
		c := getChunk(max(k, b.growSize()))
		c.written.Store(int32(k))
		copy(c.data, p[:k])
		b.pushBack(view{c: c, n: k})
		b.size += k
		p = p[k:]
	}
}

// Extend grows b by n bytes and returns them, contiguous, for the caller to
// fill (a link endpoint reads a frame into them, say). Their contents are
// unspecified: the caller must overwrite all of them, or Truncate those it
// did not fill. The slice is valid until the next change to b.
func (b *Buffer) Extend(n int) []byte {
	if n < 0 {
		panic("buffer: Extend with a negative length")
	}
	if n == 0 {
		return nil
	}
	if b.tailRoom() < n || !b.claimTail(n) {
		c := getChunk(max(n, b.growSize()))
		c.written.Store(int32(n))
		b.pushBack(view{c: c})
	}
	t := b.lastView()
	t.n += n
	b.size += n
	return t.c.data[t.end()-n : t.end() : t.end()]
}

// tailRoom returns how many bytes could be written after the tail view
// without a new chunk, if its chunk's claim succeeds.
func (b *Buffer) tailRoom() int {
	if b.n == 0 {
		return 0
	}
	t := b.lastView()
	end := t.end()
	if end == len(t.c.data) || t.c.shared() && int(t.c.written.Load()) != end {
		return 0
	}
	return len(t.c.data) - end
}

// claimTail claims k bytes after the tail view (see chunk.claim).
func (b *Buffer) claimTail(k int) bool {
	t := b.lastView()
	return t.c.claim(t.end(), k)
}

// appendGrowthLimit caps the chunk size that growSize picks from a
// Buffer's length: bigger chunks save views, smaller ones waste less when
// appends stop.
const appendGrowthLimit = 16 << 10

// growSize returns the least size of a new chunk for b.
func (b *Buffer) growSize() int { return min(b.size, appendGrowthLimit) }

// Merge moves o's bytes to the end of b without copying, leaving o empty.
// Two views that are adjacent runs of one chunk become one.
func (b *Buffer) Merge(o *Buffer) {
	if o == b {
		panic("buffer: Merge of a Buffer with itself")
	}
	if o.n == 0 {
		return
	}
	if b.n == 0 {
		b.take(o)
		return
	}
	vs := o.views()
	if t := b.lastView(); t.c == vs[0].c && t.end() == vs[0].off {
		t.n += vs[0].n
		vs[0].c.decRef() // the merged view keeps t's reference
		vs = vs[1:]
	}
	for _, v := range vs {
		b.pushBack(v)
	}
	b.size += o.size
	o.forget()
}

// Compact copies b's bytes into chunks of their own size, letting go of
// the chunks b referred to, when those are more than twice its length
// (plus 64 bytes): a few bytes keeping a large chunk alive, as a segment
// cut from a large receive buffer or from a sender's buffer shared by
// an in-memory link does. It reports whether it copied. Limits that
// charge Size call it before refusing a buffer.
//
// Up to MaxChunkSize bytes go to one chunk of the smallest class that
// holds them (less than twice their length), whatever pieces they were
// in: a receiver compacts every segment it queues while its reader holds
// the endpoint, and one chunk a segment is half the chunks that appending
// the pieces takes.
func (b *Buffer) Compact() bool {
	if b.Size() <= 2*b.size+64 {
		return false
	}
	var c Buffer
	if b.size <= MaxChunkSize {
		ch := getChunk(b.size)
		b.CopyTo(ch.data[:b.size])
		c.pushBack(view{c: ch, n: b.size})
		c.size = b.size
	} else {
		for p := range b.All() {
			c.Append(p)
		}
	}
	b.Release()
	b.Merge(&c)
	return true
}

// Take moves all of b into the returned Buffer, leaving b empty: the way to
// hand a Buffer over by value.
func (b *Buffer) Take() (t Buffer) {
	t.take(b)
	return
}

// Clone returns a Buffer with the same bytes that shares b's chunks. The two
// are independent afterwards: changing one (Append, TrimFront, Release, …)
// leaves the other as it was, because bytes a view covers are never written
// while the chunk is shared.
func (b *Buffer) Clone() (c Buffer) {
	vs := b.views()
	for i := range vs {
		vs[i].c.incRef()
	}
	if b.slab != nil {
		c.slab = getSlab(b.n)
		copy(c.slab.v, vs)
	} else {
		c.inline = b.inline
	}
	c.size, c.n = b.size, b.n
	return
}

// CloneRange returns a Buffer holding bytes [off, off+n) of b, sharing b's
// chunks as Clone does. It panics unless 0 <= off <= off+n <= b.Len().
func (b *Buffer) CloneRange(off, n int) (c Buffer) {
	if off < 0 || n < 0 || n > b.size-off {
		panic("buffer: CloneRange out of range")
	}
	if n == 0 {
		return
	}
	vs := b.views()
	i := 0
	if off >= b.size/2 {
		// From the end: a TCP send buffer of hundreds of views is
		// cloned from near its tail (the data sent next) once per
		// segment.
		i = len(vs) - 1
		start := b.size - vs[i].n // offset of view i
		for off < start {
			i--
			start -= vs[i].n
		}
		off -= start
	} else {
		for off >= vs[i].n {
			off -= vs[i].n
			i++
		}
	}
	c.size = n
	for n > 0 {
		v := vs[i]
		v.off += off
		v.n = min(v.n-off, n)
		v.c.incRef()
		c.pushBack(v)
		n -= v.n
		off = 0
		i++
	}
	return
}

// Split removes the first n bytes of b and returns them as a new Buffer. A
// view that straddles the split point is shared by both, not copied. It
// panics unless 0 <= n <= b.Len().
func (b *Buffer) Split(n int) (front Buffer) {
	if n < 0 || n > b.size {
		panic("buffer: Split out of range")
	}
	if n == b.size {
		front.take(b)
		return
	}
	if n == 0 {
		return
	}
	vs := b.views()
	k, rem := 0, n
	for rem >= vs[k].n {
		front.pushBack(vs[k])
		rem -= vs[k].n
		k++
	}
	if rem > 0 {
		v := &vs[k]
		v.c.incRef()
		front.pushBack(view{c: v.c, off: v.off, n: rem})
		v.off += rem
		v.n -= rem
	}
	b.dropFront(k)
	front.size = n
	b.size -= n
	return
}

// TrimFront removes the first n bytes of b. It panics unless
// 0 <= n <= b.Len().
func (b *Buffer) TrimFront(n int) {
	if n < 0 || n > b.size {
		panic("buffer: TrimFront out of range")
	}
	if n == b.size {
		b.Release()
		return
	}
	b.size -= n
	vs := b.views()
	k := 0
	for n >= vs[k].n {
		n -= vs[k].n
		vs[k].c.decRef()
		k++
	}
	vs[k].off += n
	vs[k].n -= n
	b.dropFront(k)
}

// Truncate keeps the first n bytes of b and releases the rest. It panics
// unless 0 <= n <= b.Len().
func (b *Buffer) Truncate(n int) {
	if n < 0 || n > b.size {
		panic("buffer: Truncate out of range")
	}
	if n == 0 {
		b.Release()
		return
	}
	if n == b.size {
		return
	}
	b.size = n
	vs := b.views()
	i := 0
	for n > vs[i].n {
		n -= vs[i].n
		i++
	}
	vs[i].n = n
	for j := i + 1; j < len(vs); j++ {
		vs[j].c.decRef()
	}
	b.dropBack(len(vs) - i - 1)
}

// Release drops b's references to its chunks, returning those no other
// Buffer uses to their pools, and leaves b empty and usable. Every slice
// obtained from b becomes invalid.
func (b *Buffer) Release() {
	vs := b.views()
	for i := range vs {
		vs[i].c.decRef()
	}
	b.forget()
}

// PullUp returns the first n bytes of b as one contiguous slice. It copies
// nothing when they already lie in one view; otherwise it copies them into a
// new chunk that replaces the views they came from. ok is false if b is
// shorter than n. The slice is read-only (other Buffers may share it; see
// PullUpWritable) and valid until the next change to b.
func (b *Buffer) PullUp(n int) (p []byte, ok bool) {
	if n < 0 || n > b.size {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	if v := &b.views()[0]; v.n >= n {
		return v.c.data[v.off : v.off+n : v.off+n], true
	}
	return b.gather(n), true
}

// PullUpWritable is PullUp for bytes the caller will modify in place: if
// another view shares the chunk holding them, they are first copied into a
// chunk of b's own (copy on write), so that no clone sees the change.
func (b *Buffer) PullUpWritable(n int) (p []byte, ok bool) {
	if n < 0 || n > b.size {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	if v := &b.views()[0]; v.n >= n && !v.c.shared() {
		return v.c.data[v.off : v.off+n : v.off+n], true
	}
	return b.gather(n), true
}

// gather copies the first n bytes of b into a new chunk that replaces them
// and returns them.
func (b *Buffer) gather(n int) []byte {
	c := getChunk(n)
	b.CopyTo(c.data[:n])
	size := b.size
	b.TrimFront(n)
	b.pushFront(view{c: c, n: n})
	b.size = size
	return c.data[:n:n]
}
