package buffer

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// freeList is a sync.Pool backed by a bounded reserve that the garbage
// collector does not empty.
//
// A sync.Pool is dropped by every other GC cycle, so after a collection a
// busy stack would allocate afresh every Packet and chunk it has in flight
// (a bulk transfer over an in-memory link has thousands: the link queue,
// both windows and a send queue autotuned up to tens of MiB). The reserve
// keeps them across collections: put fills it before the pool while it
// has room, and get falls back on it when the pool is empty. A list whose
// objects in use never exceed what its reserve may hold never uses the
// pool at all, so a collection costs it nothing: allocation stops once
// the largest number of objects ever in use at once has been allocated.
//
// Room is bounded twice: per list, at most max objects; across all lists,
// at most reserveLimit bytes idle in reserves (reserved). The shared bound
// lets the size classes a workload uses take what they need (a bulk
// transfer holds most of its bytes in 64 KiB and 32 KiB chunks, a
// request-response server in small ones) while the total a process keeps
// stays bounded. What goes beyond either bound goes to the sync.Pool.
//
// The reserve also shrinks: objects that sat in it unused for a whole
// reserveIdle period are let go (see trimReserves), so a process that
// moved a lot of data once does not keep its buffers forever.
type freeList[T any] struct {
	pool sync.Pool
	// pooled says the pool may hold objects: set before put gives one to
	// the pool, cleared by get when the pool turns out empty, so that a
	// list that never overflows its reserve never touches the pool
	// (whose first use after a collection allocates). A put racing with
	// the clearing may leave an object in the pool unseen until a
	// collection drops it: a missed reuse, no more.
	pooled atomic.Bool
	n      atomic.Int32 // len(reserve), readable without the mutex
	max    int32
	size   int64 // bytes an object holds, charged to reserved while in the reserve

	// mk appends n new objects to dst, made in as few allocations as it
	// can (one array of n objects); maxBatch bounds n (see grow). made
	// counts the objects made, less those trimmed.
	mk       func(dst []*T, n int) []*T
	maxBatch int
	made     atomic.Int64
	growMu   sync.Mutex
	scratch  []*T // guarded by growMu: mk's dst, reused

	mu      sync.Mutex
	reserve []*T // guarded by mu; a stack: the bottom is the longest idle
	low     int  // guarded by mu: the least len(reserve) since the last trim
}

// reserved is the number of bytes idle in the reserves of every freeList.
var reserved atomic.Int64

// reserves lists every freeList for trimReserves.
var reserves struct {
	mu    sync.Mutex
	lists []trimmer // guarded by mu
	last  time.Time // guarded by mu: when trimReserves last trimmed
}

type trimmer interface {
	trim() int64
	release() int64
}

// init sets the reserve's bound in objects, the bytes each object holds
// and the constructor of new objects, and registers f for trimming.
func (f *freeList[T]) init(maxReserve, size int, mk func(dst []*T, n int) []*T) {
	f.max = int32(min(maxReserve, reserveLimit/size))
	f.size = int64(size)
	f.mk = mk
	f.maxBatch = max(1, min(reserveBatchObjects, reserveBatchBytes/size))
	reserves.mu.Lock()
	reserves.lists = append(reserves.lists, f)
	reserves.mu.Unlock()
}

// get returns an object from the pool, else from the reserve, else a new
// one.
func (f *freeList[T]) get() *T {
	if f.pooled.Load() {
		if x, _ := f.pool.Get().(*T); x != nil {
			return x
		}
		f.pooled.Store(false)
	}
	if f.n.Load() > 0 {
		f.mu.Lock()
		if k := len(f.reserve); k > 0 {
			x := f.reserve[k-1]
			f.reserve[k-1] = nil
			f.reserve = f.reserve[:k-1]
			f.n.Store(int32(k - 1))
			f.low = min(f.low, k-1)
			f.mu.Unlock()
			reserved.Add(-f.size)
			return x
		}
		f.mu.Unlock()
	}
	return f.grow()
}

// grow makes new objects when the list ran dry, that is when more are in
// use than ever before: an eighth of those made so far (at least one, at
// most maxBatch), in one allocation, and returns one of them, the others
// going to the reserve. A list grows as a slice does, ahead of its
// length by a bounded fraction, so that the transient in which a busy
// stack first fills its queues and windows (thousands of packets and
// chunks: 6 000 Packets and 50 MiB of chunks in perf's bulk workload)
// takes a few hundred allocations rather than over ten thousand, and a
// later burst with a little more in flight than any before it (a deeper
// link queue, a longer backlog) takes a few. What is made ahead is at
// most an eighth of what is in use, and reserveBatchBytes; trim lets it
// go if it stays unused.
//
// The objects of a batch share one allocation, which the garbage
// collector reclaims only once none of them is referred to: an object
// trimmed or dropped while some of its batch is in use keeps its memory
// until the rest goes too (at most reserveBatchBytes a batch).
func (f *freeList[T]) grow() *T {
	n := int(min(max(f.made.Load()/reserveGrowDiv, 1), int64(f.maxBatch)))
	f.growMu.Lock()
	objs := f.mk(f.scratch[:0], n)
	f.made.Add(int64(len(objs)))
	x := objs[0]
	for _, y := range objs[1:] {
		f.put(y)
	}
	clear(objs)
	f.scratch = objs[:0]
	f.growMu.Unlock()
	return x
}

// put returns x to the reserve if it has room, else to the pool.
func (f *freeList[T]) put(x *T) {
	if f.n.Load() < f.max && reserved.Load()+f.size <= reserveLimit {
		f.mu.Lock()
		if k := len(f.reserve); int32(k) < f.max {
			// Charge the shared bound before keeping x; give the
			// charge back if another list took the last room.
			if reserved.Add(f.size) <= reserveLimit {
				if f.reserve == nil {
					f.reserve = make([]*T, 0, min(f.max, reserveInitialCap))
				}
				f.reserve = append(f.reserve, x)
				f.n.Store(int32(k + 1))
				f.mu.Unlock()
				return
			}
			reserved.Add(-f.size)
		}
		f.mu.Unlock()
	}
	if !f.pooled.Load() {
		f.pooled.Store(true)
	}
	f.pool.Put(x)
}

// trim lets go of the objects that stayed in the reserve since the last
// trim (the low-water mark: the bottom of the stack, which no get
// reached), and returns their bytes.
func (f *freeList[T]) trim() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	idle := f.low
	if idle > 0 {
		k := copy(f.reserve, f.reserve[idle:])
		clear(f.reserve[k:])
		f.reserve = f.reserve[:k]
		if k == 0 {
			f.reserve = nil // the slice itself goes too
		}
		f.n.Store(int32(k))
		f.made.Add(-int64(idle))
		reserved.Add(-int64(idle) * f.size)
	}
	f.low = len(f.reserve)
	return int64(idle) * f.size
}

// release lets go of every object in the reserve and returns their bytes.
func (f *freeList[T]) release() int64 {
	f.mu.Lock()
	f.low = len(f.reserve)
	f.mu.Unlock()
	return f.trim()
}

// ReleaseReserves lets go of everything the reserves keep for reuse (free
// chunks, Packets and view lists), as they do by themselves with what
// stays unused for a minute, and returns the bytes let go; the garbage
// collector reclaims them at its next cycle. A program that has finished
// a burst of traffic and wants its memory back at once may call it, and a
// measurement of the memory that live connections hold calls it first,
// so that the buffers of earlier traffic are not counted.
func ReleaseReserves() (freed int64) {
	reserves.mu.Lock()
	defer reserves.mu.Unlock()
	for _, l := range reserves.lists {
		freed += l.release()
	}
	return freed
}

// trimReserves trims every reserve if reserveIdle has passed since the
// last trim, and returns the bytes let go. It runs after each garbage
// collection (see watchGC): a busy process collects often, and the
// runtime forces a collection every two minutes at least, so a reserve
// left idle is released within a few minutes. Timing by the clock and not
// by the number of collections keeps the reserve of a process whose other
// work collects garbage quickly (a benchmark of another stack between
// runs of ustack's). The clock is the wall clock, deliberately, not a
// stack's tcpip.Clock (DESIGN.md principle 4 is about protocol time): the
// reserves are shared by every stack of the process, whatever clocks
// they run on (a simulator's manual clock may stand still for ever), and
// what they measure is how long real memory sat unused.
func trimReserves(now time.Time) (freed int64) {
	reserves.mu.Lock()
	defer reserves.mu.Unlock()
	if !reserves.last.IsZero() && now.Sub(reserves.last) < reserveIdle {
		return 0
	}
	reserves.last = now
	for _, l := range reserves.lists {
		freed += l.trim()
	}
	return freed
}

// gcWatch is a sentinel whose cleanup runs once the garbage collector has
// found it unreachable, that is after each collection (it has a size so
// that it is a heap object of its own).
type gcWatch struct{ _ [16]byte }

// watchGC calls trimReserves after the next garbage collection, and arms
// itself again from there.
func watchGC() {
	w := new(gcWatch)
	runtime.AddCleanup(w, func(struct{}) {
		trimReserves(time.Now())
		watchGC()
	}, struct{}{})
}

func init() { watchGC() }

// Reserve bounds.
//
// reserveLimit bounds the bytes idle in all reserves together: twice TCP's
// default maximum buffers of one connection (32 MiB each way). A bulk
// transfer over an in-memory link comes close to those: its send queue
// autotunes to the maximum, the receiver queues views of the sender's
// chunks and a busy receiver's backlog holds copies of more; perf's bulk
// workload was measured keeping 40 to 70 MiB in flight at an MTU of 1500
// and up to 100 MiB at 65535. A process keeps that much at most, and only
// while it uses it (reserveIdle).
//
// reserveObjects bounds each list's reserve in objects: enough for the
// Packets one busy connection has in flight on an in-memory link (a
// 4096-frame queue each way and both windows), and a bound on the small
// size classes, which the byte limit alone would let hold a million
// objects.
//
// reserveIdle is how long an object must sit unused in a reserve before
// it is let go.
//
// reserveGrowDiv, reserveBatchObjects and reserveBatchBytes size the
// batches in which a list makes new objects (see freeList.grow).
const (
	reserveGrowDiv      = 8
	reserveBatchObjects = 64
	reserveBatchBytes   = 512 << 10

	reserveLimit      = 128 << 20
	reserveObjects    = 16384
	reserveInitialCap = 64 // a reserve's slice grows by appending from here
	reserveIdle       = time.Minute
)
