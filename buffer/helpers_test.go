package buffer

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	SetCounting(true)
	os.Exit(m.Run())
}

// checkInvariants fails t if b's internal representation is inconsistent.
func checkInvariants(t testing.TB, b *Buffer) {
	t.Helper()
	if (b.slab != nil) != (b.n > inlineViews) {
		t.Fatalf("slab=%v with %d views", b.slab != nil, b.n)
	}
	if b.slab == nil {
		if b.head != 0 {
			t.Fatalf("head %d without slab", b.head)
		}
		for i := b.n; i < inlineViews; i++ {
			if b.inline[i] != (view{}) {
				t.Fatalf("stale inline view %d", i)
			}
		}
	} else {
		for i, v := range b.slab.v {
			if (i < b.head || i >= b.head+b.n) && v != (view{}) {
				t.Fatalf("stale slab view %d (live %d..%d)", i, b.head, b.head+b.n)
			}
		}
	}
	size := 0
	for i, v := range b.views() {
		if v.n <= 0 || v.off < 0 || v.end() > len(v.c.data) {
			t.Fatalf("view %d: off %d n %d in a chunk of %d", i, v.off, v.n, len(v.c.data))
		}
		if w := int(v.c.written.Load()); v.end() > w {
			t.Fatalf("view %d ends at %d, past the watermark %d", i, v.end(), w)
		}
		if r := v.c.refs.Load(); r < 1 {
			t.Fatalf("view %d: chunk refs %d", i, r)
		}
		size += v.n
	}
	if size != b.size {
		t.Fatalf("size %d, views hold %d", b.size, size)
	}
}

// checkEqual fails t unless b holds want and is consistent.
func checkEqual(t testing.TB, b *Buffer, want []byte) {
	t.Helper()
	checkInvariants(t, b)
	if got := b.Flatten(); string(got) != string(want) {
		t.Fatalf("buffer holds %d bytes %x…, want %d bytes %x…", len(got), prefix(got), len(want), prefix(want))
	}
	if b.Len() != len(want) {
		t.Fatalf("Len %d, want %d", b.Len(), len(want))
	}
	if !b.EqualBytes(want) {
		t.Fatalf("EqualBytes false")
	}
}

func prefix(b []byte) []byte { return b[:min(len(b), 16)] }

// pattern returns n bytes that differ from those of any other (seed, offset).
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>8)
	}
	return b
}

// leakCheck fails t at cleanup if the test left chunks or packets in use.
func leakCheck(t testing.TB) {
	t.Helper()
	before := ReadStats()
	t.Cleanup(func() {
		t.Helper()
		after := ReadStats()
		if after.ChunksInUse != before.ChunksInUse || after.PacketsInUse != before.PacketsInUse {
			t.Errorf("leak: chunks in use %d → %d, packets %d → %d",
				before.ChunksInUse, after.ChunksInUse, before.PacketsInUse, after.PacketsInUse)
		}
	})
}

// multiChunk returns a Buffer of n bytes made of pieces of the given sizes
// (repeated), each in its own chunk, and the bytes.
func multiChunk(seed byte, n int, pieces ...int) (*Buffer, []byte) {
	want := pattern(seed, n)
	b := new(Buffer)
	for off, i := 0, 0; off < n; i++ {
		k := min(pieces[i%len(pieces)], n-off)
		var piece Buffer
		piece.Append(want[off : off+k])
		b.Merge(&piece)
		off += k
	}
	return b, want
}
