package buffer

import (
	"math"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Chunk size classes: powers of two from 64 B to 64 KiB. A request larger
// than MaxChunkSize that must be contiguous (a PullUp, a header area, an
// Extend) gets an oversize chunk from the heap that is not pooled; payload
// appended with Append never needs one, it spans several chunks instead.
const (
	// MinChunkSize is the size of the smallest chunk.
	MinChunkSize = 1 << chunkMinShift
	// MaxChunkSize is the size of the largest pooled chunk.
	MaxChunkSize = 1 << chunkMaxShift

	chunkMinShift   = 6
	chunkMaxShift   = 16
	chunkNumClasses = chunkMaxShift - chunkMinShift + 1
	chunkOversize   = -1 // class of a chunk that is not pooled
)

// chunk is a block of bytes shared by the views that refer to it. Each view
// holds one reference; the chunk goes back to its pool when the count drops
// to zero.
//
// Bytes of a chunk are written only where no other view can see them:
//   - anywhere after the only view of a chunk whose count is one;
//   - in a shared chunk, only past the watermark, which is at or after
//     the end of every view. A Buffer whose tail view ends at the watermark
//     claims the bytes after it by moving the watermark with a
//     compare-and-swap; of two clones ending there, one wins and the other
//     starts a new chunk. The count and the watermark are 32-bit so that
//     they are atomic on every GOARCH.
type chunk struct {
	refs    atomic.Int32
	written atomic.Int32 // the watermark: data[written:] is in no view
	class   int8         // index into chunkPools, or chunkOversize
	counted bool         // allocated while usage counting was on
	data    []byte       // len(data) == cap(data) == the class size
}

var chunkPools [chunkNumClasses]freeList[chunk]

func init() {
	for i := range chunkPools {
		size := 1 << (chunkMinShift + i)
		class := int8(i)
		mk := func(dst []*chunk, n int) []*chunk {
			hs := make([]chunk, n)
			data := make([]byte, n*size)
			for j := range hs {
				hs[j].class = class
				hs[j].data = data[j*size : (j+1)*size : (j+1)*size]
				dst = append(dst, &hs[j])
			}
			return dst
		}
		switch size {
		case 64:
			mk = makeChunksWith(class, func(a *[64]byte) []byte { return a[:] })
		case 128:
			mk = makeChunksWith(class, func(a *[128]byte) []byte { return a[:] })
		case 256:
			mk = makeChunksWith(class, func(a *[256]byte) []byte { return a[:] })
		case 512:
			mk = makeChunksWith(class, func(a *[512]byte) []byte { return a[:] })
		}
		chunkPools[i].init(reserveObjects, size+int(unsafe.Sizeof(chunk{})), mk)
	}
}

// chunkWith is a chunk and its bytes in one allocation.
type chunkWith[A any] struct {
	c chunk
	a A
}

// makeChunksWith returns a constructor of chunks of class whose bytes, the
// array A, are allocated with the chunk: one allocation for a batch
// instead of two (the headers and the bytes). The small classes use it
// (up to 512 B, where the two together fill the runtime's size classes
// as well as they do apart): a Packet's header area is one.
func makeChunksWith[A any](class int8, bytes func(*A) []byte) func([]*chunk, int) []*chunk {
	return func(dst []*chunk, n int) []*chunk {
		cs := make([]chunkWith[A], n)
		for j := range cs {
			cs[j].c.class = class
			cs[j].c.data = bytes(&cs[j].a)
			dst = append(dst, &cs[j].c)
		}
		return dst
	}
}

// chunkClass returns the smallest class that holds n bytes, or
// chunkOversize if n is larger than MaxChunkSize.
func chunkClass(n int) int {
	if n <= MinChunkSize {
		return 0
	}
	if n > MaxChunkSize {
		return chunkOversize
	}
	return bits.Len(uint(n-1)) - chunkMinShift
}

// chunkClassSize returns the size of chunks of class c.
func chunkClassSize(c int) int { return 1 << (chunkMinShift + c) }

// getChunk returns a chunk of at least n bytes holding one reference, with
// its first n bytes counted as written. Its contents are whatever its last
// user left there.
func getChunk(n int) *chunk {
	if n > math.MaxInt32 {
		panic("buffer: contiguous area larger than 2 GiB")
	}
	var c *chunk
	if class := chunkClass(n); class == chunkOversize {
		c = &chunk{class: chunkOversize, data: make([]byte, n)}
		stats.oversizeChunks.Add(1)
	} else {
		c = chunkPools[class].get()
	}
	c.refs.Store(1)
	c.written.Store(int32(n))
	if c.counted = counting.Load(); c.counted {
		stats.chunksInUse.Add(1)
		stats.chunkBytesInUse.Add(int64(len(c.data)))
	}
	return c
}

// incRef adds a reference for a new view of c.
func (c *chunk) incRef() { c.refs.Add(1) }

// decRef drops a view's reference and returns c to its pool when it was the
// last one.
func (c *chunk) decRef() {
	switch r := c.refs.Add(-1); {
	case r > 0:
		return
	case r < 0:
		panic("buffer: chunk released more times than it was referenced")
	}
	if c.counted {
		stats.chunksInUse.Add(-1)
		stats.chunkBytesInUse.Add(-int64(len(c.data)))
	}
	if c.class != chunkOversize {
		chunkPools[c.class].put(c)
	}
}

// shared reports whether some other view refers to c. The answer "no" is
// stable while the caller holds the only reference: no one else can add a
// reference to a chunk they hold no view of.
func (c *chunk) shared() bool { return c.refs.Load() != 1 }

// claim reserves data[end:end+k] for the view ending at end, if no other
// view can see those bytes, and reports whether it did.
func (c *chunk) claim(end, k int) bool {
	if !c.shared() {
		// The only view: whatever lies after it is ours.
		c.written.Store(int32(end + k))
		return true
	}
	return c.written.CompareAndSwap(int32(end), int32(end+k))
}

// Stats describes the package's pools. The usage gauges (ChunksInUse,
// ChunkBytesInUse, PacketsInUse) count only what was allocated while
// counting was on (see SetCounting); the other counters always count.
type Stats struct {
	ChunksInUse     int64  // chunks referenced by some view or header area
	ChunkBytesInUse int64  // their total size
	PacketsInUse    int64  // Packets not yet released
	HeaderGrows     uint64 // header areas reallocated because the headroom or tailroom ran out
	OversizeChunks  uint64 // unpooled chunks allocated for contiguous areas over MaxChunkSize
	ReserveBytes    int64  // bytes of free chunks, Packets and view lists kept for reuse across garbage collections
}

var (
	counting atomic.Bool
	stats    struct {
		chunksInUse     atomic.Int64
		chunkBytesInUse atomic.Int64
		packetsInUse    atomic.Int64
		headerGrows     atomic.Uint64
		oversizeChunks  atomic.Uint64
	}
)

// SetCounting turns the usage gauges of Stats on or off for chunks and
// packets allocated from now on. They are off by default because every
// goroutine would update the same counters; tests turn them on (in TestMain,
// say) to prove that everything they allocate is released. Turning counting
// on while buffers are live is safe: those buffers are simply not counted.
func SetCounting(on bool) { counting.Store(on) }

// ReadStats returns a snapshot of the package's counters.
func ReadStats() Stats {
	return Stats{
		ChunksInUse:     stats.chunksInUse.Load(),
		ChunkBytesInUse: stats.chunkBytesInUse.Load(),
		PacketsInUse:    stats.packetsInUse.Load(),
		HeaderGrows:     stats.headerGrows.Load(),
		OversizeChunks:  stats.oversizeChunks.Load(),
		ReserveBytes:    reserved.Load(),
	}
}
