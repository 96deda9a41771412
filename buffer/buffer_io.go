package buffer

import (
	"errors"
	"io"
	"iter"
)

// All returns an iterator over b's bytes as contiguous pieces, in order. The
// pieces are read-only and valid until the next change to b, which must not
// change during the iteration. Ranging over All does not allocate.
func (b *Buffer) All() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for i := range b.n {
			if !yield(b.piece(i)) {
				return
			}
		}
	}
}

// piece returns the bytes of view i.
func (b *Buffer) piece(i int) []byte {
	if b.slab == nil {
		return b.inline[i].bytes()
	}
	return b.slab.v[b.head+i].bytes()
}

// CopyTo copies the first min(len(dst), b.Len()) bytes of b to dst and
// returns how many it copied. b is unchanged.
func (b *Buffer) CopyTo(dst []byte) int {
	n := 0
	vs := b.views()
	for i := range vs {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], vs[i].bytes())
	}
	return n
}

// Read implements io.Reader: it moves the first bytes of b to p. It returns
// io.EOF when b is empty and p is not.
func (b *Buffer) Read(p []byte) (int, error) {
	if b.size == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := b.CopyTo(p)
	b.TrimFront(n)
	return n, nil
}

var errNegativeOffset = errors.New("buffer: negative offset")

// ReadAt implements io.ReaderAt: it copies bytes of b from offset off to p,
// leaving b unchanged, and returns io.EOF if it copied fewer than len(p).
// Offsets count from the current front of b, which Read and TrimFront move.
func (b *Buffer) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= int64(b.size) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	skip := int(off)
	n := 0
	vs := b.views()
	for i := range vs {
		if n == len(p) {
			break
		}
		if skip >= vs[i].n {
			skip -= vs[i].n
			continue
		}
		n += copy(p[n:], vs[i].bytes()[skip:])
		skip = 0
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteTo implements io.WriterTo: it writes b's pieces to w in order,
// removing from b what w accepted, until b is empty or w fails.
func (b *Buffer) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for b.size > 0 {
		p := b.piece(0)
		m, err := w.Write(p)
		if m < 0 || m > len(p) {
			panic("buffer: io.Writer returned an invalid count")
		}
		b.TrimFront(m)
		total += int64(m)
		if err != nil {
			return total, err
		}
		if m != len(p) {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// Flatten returns a copy of b's bytes in a new slice. It allocates; it is
// meant for tests and slow paths.
func (b *Buffer) Flatten() []byte {
	p := make([]byte, b.size)
	b.CopyTo(p)
	return p
}

// Equal reports whether b and o hold the same bytes, however they are split
// into views.
func (b *Buffer) Equal(o *Buffer) bool {
	if b.size != o.size {
		return false
	}
	bv, ov := b.views(), o.views()
	var p, q []byte
	for len(bv) > 0 || len(p) > 0 {
		if len(p) == 0 {
			p, bv = bv[0].bytes(), bv[1:]
		}
		if len(q) == 0 {
			q, ov = ov[0].bytes(), ov[1:]
		}
		k := min(len(p), len(q))
		if string(p[:k]) != string(q[:k]) {
			return false
		}
		p, q = p[k:], q[k:]
	}
	return true
}

// EqualBytes reports whether b holds exactly the bytes of p.
func (b *Buffer) EqualBytes(p []byte) bool {
	if b.size != len(p) {
		return false
	}
	for q := range b.All() {
		if string(q) != string(p[:len(q)]) {
			return false
		}
		p = p[len(q):]
	}
	return true
}
