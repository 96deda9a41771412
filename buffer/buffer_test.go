package buffer

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestChunkClass(t *testing.T) {
	for _, tc := range []struct{ n, class int }{
		{0, 0}, {1, 0}, {64, 0}, {65, 1}, {128, 1}, {129, 2},
		{1500, 5}, {2048, 5}, {32769, 10}, {65536, 10}, {65537, chunkOversize},
	} {
		if got := chunkClass(tc.n); got != tc.class {
			t.Errorf("chunkClass(%d) = %d, want %d", tc.n, got, tc.class)
		}
		if tc.class >= 0 && chunkClassSize(tc.class) < tc.n {
			t.Errorf("class %d too small for %d", tc.class, tc.n)
		}
	}
}

func TestGetChunkSizes(t *testing.T) {
	leakCheck(t)
	for _, n := range []int{1, 64, 65, 1460, 65536, 65537, 200000} {
		c := getChunk(n)
		if len(c.data) < n || cap(c.data) != len(c.data) || c.refs.Load() != 1 {
			t.Errorf("getChunk(%d): len %d cap %d refs %d", n, len(c.data), cap(c.data), c.refs.Load())
		}
		c.decRef()
	}
}

func TestDoubleReleasePanics(t *testing.T) {
	c := getChunk(10)
	c.decRef()
	defer func() {
		if recover() == nil {
			t.Error("no panic on a second decRef")
		}
	}()
	c.refs.Store(0) // it is in the pool now; simulate a stale holder
	c.decRef()
}

func TestZeroBuffer(t *testing.T) {
	leakCheck(t)
	var b Buffer
	checkEqual(t, &b, nil)
	if p, ok := b.PullUp(0); !ok || p != nil {
		t.Errorf("PullUp(0) = %v, %v", p, ok)
	}
	if _, ok := b.PullUp(1); ok {
		t.Error("PullUp(1) of an empty buffer succeeded")
	}
	if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read = %d, %v", n, err)
	}
	if n, err := b.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v", n, err)
	}
	b.TrimFront(0)
	b.Truncate(0)
	s := b.Split(0)
	c := b.Clone()
	r := b.CloneRange(0, 0)
	for range b.All() {
		t.Error("All yielded a piece of an empty buffer")
	}
	if b.Size() != 0 || !b.Equal(&c) || b.CopyTo(make([]byte, 4)) != 0 {
		t.Error("empty buffer misbehaves")
	}
	var w bytes.Buffer
	if n, err := b.WriteTo(&w); n != 0 || err != nil {
		t.Errorf("WriteTo = %d, %v", n, err)
	}
	b.Merge(&s)
	b.Release()
	c.Release()
	r.Release()
	checkEqual(t, &b, nil)
}

func TestAppend(t *testing.T) {
	leakCheck(t)
	for _, n := range []int{1, 63, 64, 65, 1460, 4096, 65535, 65536, 65537, 200000} {
		want := pattern(byte(n), n)
		var b Buffer
		b.Append(want)
		checkEqual(t, &b, want)
		if n <= MaxChunkSize && b.n != 1 {
			t.Errorf("Append(%d) made %d views", n, b.n)
		}
		if b.Size() < n || b.Size() > 2*n+MinChunkSize {
			t.Errorf("Append(%d): Size %d", n, b.Size())
		}
		b.Release()
		checkEqual(t, &b, nil)
	}
}

func TestAppendPieces(t *testing.T) {
	leakCheck(t)
	var b Buffer
	var want []byte
	for i := range 45 { // 45 × 1460 = 65700, crossing 64 KiB
		p := pattern(byte(i), 1460)
		b.Append(p)
		want = append(want, p...)
		checkEqual(t, &b, want)
	}
	if b.Size() > 2*len(want) {
		t.Errorf("Size %d for %d bytes", b.Size(), len(want))
	}
	if b.n > 12 {
		t.Errorf("%d views for %d appends of 1460 bytes", b.n, 45)
	}
	b.Release()
}

func TestAppendSharedTail(t *testing.T) {
	leakCheck(t)
	var a Buffer
	a.Append([]byte("hello"))
	c := a.Clone()
	a.Append([]byte(" world"))
	c.Append([]byte(" there"))
	checkEqual(t, &a, []byte("hello world"))
	checkEqual(t, &c, []byte("hello there"))
	// a claimed the space after the shared bytes; c, its tail no longer
	// at the watermark, started a new chunk.
	if a.n != 1 || c.n != 2 {
		t.Errorf("%d and %d views, want 1 and 2", a.n, c.n)
	}
	// A front split off a shared chunk ends before the watermark.
	f := a.Split(3)
	f.Append([]byte("p!"))
	checkEqual(t, &f, []byte("help!"))
	checkEqual(t, &a, []byte("lo world"))
	if f.n != 2 {
		t.Errorf("split front appended into the shared chunk")
	}
	f.Release()
	a.Release()
	c.Append([]byte("!"))
	checkEqual(t, &c, []byte("hello there!"))
	c.Release()
	// The only view of a chunk may write past its end again after a
	// Truncate.
	var d Buffer
	d.Append([]byte("abcdef"))
	d.Truncate(2)
	d.Append([]byte("XY"))
	checkEqual(t, &d, []byte("abXY"))
	if d.n != 1 {
		t.Errorf("%d views", d.n)
	}
	d.Release()
}

func TestExtend(t *testing.T) {
	leakCheck(t)
	var b Buffer
	if b.Extend(0) != nil {
		t.Error("Extend(0) returned bytes")
	}
	p := b.Extend(1514)
	if len(p) != 1514 || cap(p) != 1514 {
		t.Fatalf("Extend: len %d cap %d", len(p), cap(p))
	}
	copy(p, pattern(1, 1514))
	b.Truncate(1000)
	q := b.Extend(10) // reuses the tail chunk
	copy(q, pattern(2, 10))
	want := append(pattern(1, 1514)[:1000], pattern(2, 10)...)
	checkEqual(t, &b, want)
	if b.n != 1 {
		t.Errorf("%d views", b.n)
	}
	big := b.Extend(100000) // contiguous beyond MaxChunkSize
	if len(big) != 100000 {
		t.Fatal("short Extend")
	}
	copy(big, pattern(3, 100000))
	want = append(want, pattern(3, 100000)...)
	checkEqual(t, &b, want)
	b.Release()
}

func TestMerge(t *testing.T) {
	leakCheck(t)
	a, wa := multiChunk(1, 5000, 700)
	c, wc := multiChunk(2, 3000, 1000)
	a.Merge(c)
	checkEqual(t, a, append(wa, wc...))
	checkEqual(t, c, nil)
	a.Merge(c) // empty
	var e Buffer
	e.Merge(a)
	checkEqual(t, &e, append(wa, wc...))
	checkEqual(t, a, nil)
	e.Release()
	defer func() {
		if recover() == nil {
			t.Error("self-merge did not panic")
		}
	}()
	e.Merge(&e)
}

func TestMergeCoalesces(t *testing.T) {
	leakCheck(t)
	var b Buffer
	want := pattern(5, 1000)
	b.Append(want)
	f := b.Split(300)
	f.Merge(&b) // the two halves of one chunk become one view again
	checkEqual(t, &f, want)
	if f.n != 1 || f.views()[0].c.refs.Load() != 1 {
		t.Errorf("not coalesced: %d views, refs %d", f.n, f.views()[0].c.refs.Load())
	}
	f.Release()
}

func TestTake(t *testing.T) {
	leakCheck(t)
	b, want := multiChunk(3, 10000, 1000)
	c := b.Take()
	checkEqual(t, b, nil)
	checkEqual(t, &c, want)
	c.Release()
}

func TestCloneIndependence(t *testing.T) {
	leakCheck(t)
	for _, pieces := range []int{100, 1000, 20000} {
		b, want := multiChunk(7, 20000, pieces)
		c := b.Clone()
		checkEqual(t, &c, want)
		b.TrimFront(150)
		b.Truncate(5000)
		b.Append([]byte("tail"))
		p, _ := b.PullUpWritable(2000)
		for i := range p {
			p[i] = 0xee
		}
		checkEqual(t, &c, want)
		d := c.Clone()
		c.Release()
		checkEqual(t, &d, want)
		b.Release()
		checkEqual(t, &d, want)
		d.Release()
	}
}

func TestCloneRange(t *testing.T) {
	leakCheck(t)
	b, want := multiChunk(9, 3000, 500, 64, 1)
	for off := 0; off <= len(want); off += 37 {
		for _, n := range []int{0, 1, 63, 500, 501, len(want) - off} {
			if off+n > len(want) {
				continue
			}
			c := b.CloneRange(off, n)
			checkEqual(t, &c, want[off:off+n])
			c.Release()
		}
	}
	checkEqual(t, b, want)
	b.Release()
	for _, r := range [][2]int{{-1, 0}, {0, -1}, {0, 1}, {1, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("CloneRange(%d, %d) of an empty buffer did not panic", r[0], r[1])
				}
			}()
			b.CloneRange(r[0], r[1])
		}()
	}
}

// TestSplitEveryOffset splits a multi-chunk buffer at every offset and
// compares both halves with the reference bytes.
func TestSplitEveryOffset(t *testing.T) {
	leakCheck(t)
	for _, pieces := range [][]int{{64}, {100, 1, 37}, {1460}, {4096}} {
		const n = 5000
		step := 1
		if raceEnabled {
			step = 7 // the race detector makes every offset slow
		}
		for off := 0; off <= n; off += step {
			b, want := multiChunk(byte(off), n, pieces...)
			front := b.Split(off)
			checkEqual(t, &front, want[:off])
			checkEqual(t, b, want[off:])
			front.Release()
			b.Release()
		}
	}
}

func TestSplitShares(t *testing.T) {
	leakCheck(t)
	var b Buffer
	want := pattern(4, 1000)
	b.Append(want)
	f := b.Split(400)
	if f.views()[0].c != b.views()[0].c {
		t.Error("split copied the view")
	}
	f.Append([]byte("x")) // the tail chunk is shared: a new chunk
	checkEqual(t, &b, want[400:])
	checkEqual(t, &f, append(want[:400:400], 'x'))
	f.Release()
	b.Release()
}

func TestTrimFrontTruncate(t *testing.T) {
	leakCheck(t)
	const n = 3000
	for off := 0; off <= n; off += 13 {
		b, want := multiChunk(byte(off), n, 256, 7)
		b.TrimFront(off)
		checkEqual(t, b, want[off:])
		b.Release()
		b, want = multiChunk(byte(off), n, 256, 7)
		b.Truncate(off)
		checkEqual(t, b, want[:off])
		b.Release()
	}
}

func TestOutOfRangePanics(t *testing.T) {
	leakCheck(t)
	var b Buffer
	b.Append([]byte("abc"))
	defer b.Release()
	for name, f := range map[string]func(){
		"Split(4)":      func() { b.Split(4) },
		"Split(-1)":     func() { b.Split(-1) },
		"TrimFront(4)":  func() { b.TrimFront(4) },
		"TrimFront(-1)": func() { b.TrimFront(-1) },
		"Truncate(4)":   func() { b.Truncate(4) },
		"Truncate(-1)":  func() { b.Truncate(-1) },
		"Extend(-1)":    func() { b.Extend(-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
	checkEqual(t, &b, []byte("abc"))
}

func TestPullUp(t *testing.T) {
	leakCheck(t)
	b, want := multiChunk(6, 10000, 100, 1000)
	p, ok := b.PullUp(50) // within the first view: no copy
	if !ok || string(p) != string(want[:50]) || cap(p) != 50 {
		t.Fatalf("PullUp(50) = %x, %v (cap %d)", p, ok, cap(p))
	}
	first := b.views()[0].c
	if v := b.views()[0]; &p[0] != &v.c.data[v.off] {
		t.Error("PullUp within one view copied")
	}
	p, ok = b.PullUp(1500) // spans three views: gathered
	if !ok || string(p) != string(want[:1500]) {
		t.Fatal("PullUp(1500) wrong bytes")
	}
	checkEqual(t, b, want)
	if b.views()[0].n != 1500 || b.views()[0].c == first {
		t.Error("PullUp did not gather into one view")
	}
	if _, ok := b.PullUp(10001); ok {
		t.Error("PullUp past the end succeeded")
	}
	if _, ok := b.PullUp(-1); ok {
		t.Error("PullUp(-1) succeeded")
	}
	p, _ = b.PullUp(10000)
	if string(p) != string(want) {
		t.Error("PullUp of everything wrong")
	}
	checkEqual(t, b, want)
	b.Release()

	big, want := multiChunk(1, 3*MaxChunkSize, MaxChunkSize)
	p, _ = big.PullUp(big.Len()) // beyond MaxChunkSize: oversize chunk
	if string(p) != string(want) {
		t.Error("oversize PullUp wrong")
	}
	checkEqual(t, big, want)
	big.Release()
}

func TestPullUpWritable(t *testing.T) {
	leakCheck(t)
	var b Buffer
	want := pattern(8, 500)
	b.Append(want)
	p, _ := b.PullUpWritable(100) // unshared: in place
	if v := b.views()[0]; &p[0] != &v.c.data[v.off] {
		t.Error("unshared PullUpWritable copied")
	}
	c := b.Clone()
	p, _ = b.PullUpWritable(100) // shared: copied first
	p[0] ^= 0xff
	checkEqual(t, &c, want)
	mod := bytes.Clone(want)
	mod[0] ^= 0xff
	checkEqual(t, &b, mod)
	if _, ok := b.PullUpWritable(501); ok {
		t.Error("PullUpWritable past the end succeeded")
	}
	if p, ok := b.PullUpWritable(0); !ok || p != nil {
		t.Error("PullUpWritable(0)")
	}
	b.Release()
	c.Release()
}

func TestAllPieces(t *testing.T) {
	leakCheck(t)
	b, want := multiChunk(2, 1000, 300)
	var got []byte
	pieces := 0
	for p := range b.All() {
		got = append(got, p...)
		pieces++
	}
	if string(got) != string(want) || pieces != 4 {
		t.Errorf("All: %d pieces", pieces)
	}
	for range b.All() {
		break // early exit must not panic
	}
	b.Release()
}

func TestReadWriteIO(t *testing.T) {
	leakCheck(t)
	b, want := multiChunk(3, 5000, 999)
	// ReadAt at every interesting offset.
	for off := range 5001 {
		p := make([]byte, 700)
		n, err := b.ReadAt(p, int64(off))
		wn := min(700, 5000-off)
		if n != wn || string(p[:n]) != string(want[off:off+n]) {
			t.Fatalf("ReadAt(%d) = %d", off, n)
		}
		if (n < 700) != (err == io.EOF) {
			t.Fatalf("ReadAt(%d) err %v", off, err)
		}
	}
	if _, err := b.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("ReadAt(-1) succeeded")
	}
	if n, err := b.ReadAt(nil, 9999); n != 0 || err != nil {
		t.Errorf("ReadAt(nil, past end) = %d, %v", n, err)
	}
	// Read consumes, so ReadAt offsets are from the current front, unlike
	// iotest.TestReader's expectation; read it through odd-sized reads.
	c := b.Clone()
	if got, err := io.ReadAll(iotest.HalfReader(&c)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadAll = %d bytes, %v", len(got), err)
	}
	checkEqual(t, &c, nil)
	b.Release()

	b, want = multiChunk(4, 5000, 999)
	var w bytes.Buffer
	if n, err := b.WriteTo(&w); n != 5000 || err != nil || !bytes.Equal(w.Bytes(), want) {
		t.Errorf("WriteTo = %d, %v", n, err)
	}
	checkEqual(t, b, nil)

	// A writer that fails after 1500 bytes leaves the rest in the buffer.
	b, want = multiChunk(5, 5000, 999)
	fw := &failWriter{limit: 1500}
	n, err := b.WriteTo(fw)
	if n != 1500 || err == nil {
		t.Errorf("WriteTo to a failing writer = %d, %v", n, err)
	}
	checkEqual(t, b, want[1500:])
	// A short writer without an error gives io.ErrShortWrite.
	sw := &failWriter{limit: 10, short: true}
	if n, err := b.WriteTo(sw); n != 10 || !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("WriteTo to a short writer = %d, %v", n, err)
	}
	checkEqual(t, b, want[1510:])

	// CopyTo and Read.
	p := make([]byte, 100)
	if b.CopyTo(p) != 100 || string(p) != string(want[1510:1610]) {
		t.Error("CopyTo")
	}
	if n, err := b.Read(p); n != 100 || err != nil || string(p) != string(want[1510:1610]) {
		t.Error("Read")
	}
	checkEqual(t, b, want[1610:])
	b.Release()
}

type failWriter struct {
	limit int
	short bool
}

func (w *failWriter) Write(p []byte) (int, error) {
	n := min(len(p), w.limit)
	w.limit -= n
	if n < len(p) {
		if w.short {
			return n, nil
		}
		return n, errors.New("disk full")
	}
	return n, nil
}

func TestEqual(t *testing.T) {
	leakCheck(t)
	a, want := multiChunk(1, 3000, 100)
	b, _ := multiChunk(1, 3000, 77, 1000)
	if !a.Equal(b) || !b.Equal(a) || !a.EqualBytes(want) {
		t.Error("equal buffers differ")
	}
	b.Truncate(2999)
	if a.Equal(b) || a.EqualBytes(want[1:]) {
		t.Error("different lengths equal")
	}
	b.Append([]byte{want[2999] ^ 1})
	if a.Equal(b) || b.EqualBytes(want) {
		t.Error("different last byte equal")
	}
	a.Release()
	b.Release()
}

func TestSlabGrowAndShrink(t *testing.T) {
	leakCheck(t)
	var b Buffer
	var want []byte
	// Many views: every piece is its own chunk.
	for i := range 1000 {
		var p Buffer
		p.Append(pattern(byte(i), 10))
		want = append(want, pattern(byte(i), 10)...)
		b.Merge(&p)
	}
	checkEqual(t, &b, want)
	if b.n != 1000 || b.slab == nil {
		t.Fatalf("%d views", b.n)
	}
	// Drain as a queue: trim the front, append at the back.
	for i := range 2000 {
		b.TrimFront(10)
		want = want[10:]
		if i%2 == 0 {
			var p Buffer
			p.Append(pattern(byte(i), 10))
			want = append(want, pattern(byte(i), 10)...)
			b.Merge(&p)
		}
		if b.Len() == 0 {
			break
		}
		checkInvariants(t, &b)
	}
	checkEqual(t, &b, want)
	if b.slab != nil {
		t.Error("drained buffer kept its slab")
	}
	// pushFront through PullUp into a full inline list and a slab.
	b.Release()
	for n := 1; n <= 20; n++ {
		c, w := multiChunk(byte(n), n*10, 10)
		c.PullUp(15)
		checkEqual(t, c, w)
		c.Release()
	}
}

// TestAppendWhileInFlight is an interactive TCP sender: every small write
// is sent at once (cloned out of the queue) before the next one. The
// queue must keep filling its tail chunk, not start a chunk per write.
func TestAppendWhileInFlight(t *testing.T) {
	leakCheck(t)
	var q Buffer
	var inFlight []Buffer
	var want []byte
	for i := range 1000 {
		d := pattern(byte(i), 100)
		q.Append(d)
		want = append(want, d...)
		inFlight = append(inFlight, q.CloneRange(q.Len()-100, 100))
	}
	checkEqual(t, &q, want)
	if q.Size() > 2*q.Len() || q.n > 20 {
		t.Errorf("%d bytes in %d views holding %d bytes of chunks", q.Len(), q.n, q.Size())
	}
	for i := range inFlight {
		checkEqual(t, &inFlight[i], want[i*100:i*100+100])
		inFlight[i].Release()
	}
	q.Release()
}

// TestCompact: a few bytes viewing a large chunk are copied into a chunk
// of their own size, the large chunk's share let go; a Buffer that fills
// its chunks is left alone.
func TestCompact(t *testing.T) {
	var big Buffer
	src := make([]byte, 64<<10)
	for i := range src {
		src[i] = byte(i)
	}
	big.Append(src)
	small := big.CloneRange(1000, 1448)
	if small.Size() < 64<<10 {
		t.Fatalf("setup: the view holds %d bytes of chunk, want the whole 64 KiB chunk", small.Size())
	}
	if !small.Compact() {
		t.Fatal("Compact of 1448 bytes viewing a 64 KiB chunk did not copy")
	}
	if small.Len() != 1448 || small.Size() > 2*1448+64 || !small.EqualBytes(src[1000:2448]) {
		t.Errorf("after Compact: Len %d, Size %d, same bytes %v; want 1448, at most %d, true", small.Len(), small.Size(), small.EqualBytes(src[1000:2448]), 2*1448+64)
	}
	if big.Compact() {
		t.Error("Compact copied a Buffer that fills its chunk")
	}
	if !big.EqualBytes(src) {
		t.Error("the original changed")
	}
	small.Release()
	big.Release()
	var empty Buffer
	if empty.Compact() {
		t.Error("Compact of an empty Buffer copied")
	}

	// Pieces of several chunks: up to MaxChunkSize bytes go to one
	// chunk, more to as many as Append takes.
	for _, c := range []struct{ pieces, piece, wantViews int }{
		{2, 20000, 1},
		{3, 25000, 0}, // any number of views
	} {
		var seg Buffer
		var want []byte
		for i := range c.pieces {
			var whole Buffer
			whole.Append(pattern(byte(i), MaxChunkSize))
			r := whole.CloneRange(MaxChunkSize-c.piece, c.piece)
			want = append(want, pattern(byte(i), MaxChunkSize)[MaxChunkSize-c.piece:]...)
			seg.Merge(&r)
			whole.Release()
		}
		if !seg.Compact() {
			t.Errorf("%d pieces of %d B in chunks of 64 KiB: not compacted", c.pieces, c.piece)
		}
		if (c.wantViews != 0 && seg.n != c.wantViews) || !seg.EqualBytes(want) || seg.Size() > 2*seg.Len()+64 {
			t.Errorf("%d pieces of %d B compacted: %d views of %d B in %d B, want %d views, the same bytes, at most %d B",
				c.pieces, c.piece, seg.n, seg.Len(), seg.Size(), c.wantViews, 2*seg.Len()+64)
		}
		seg.Release()
	}
}
