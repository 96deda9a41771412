package buffer

import (
	"sync"
	"sync/atomic"
)

// freeList is a sync.Pool backed by a bounded reserve that the garbage
// collector does not empty.
//
// A sync.Pool is dropped by every other GC cycle, so after a collection a
// busy stack allocates afresh every Packet and chunk it has in flight (a
// bulk transfer has thousands: the link queue plus both windows). The
// reserve keeps up to max objects across collections: Put fills it before
// the pool while it is not full, and Get falls back on it when the pool is
// empty. In the steady state the reserve is full and idle, and both paths
// cost one atomic load more than the bare pool; it is used (under its
// mutex) only in the transient after a collection.
type freeList[T any] struct {
	pool    sync.Pool
	n       atomic.Int32 // len(reserve), readable without the mutex
	max     int32
	mu      sync.Mutex
	reserve []*T
	newT    func() *T
}

// init sets the reserve's bound and the constructor of new objects.
func (f *freeList[T]) init(maxReserve int, newT func() *T) {
	f.max = int32(maxReserve)
	f.newT = newT
}

// get returns an object from the pool, else from the reserve, else a new
// one.
func (f *freeList[T]) get() *T {
	if x, _ := f.pool.Get().(*T); x != nil {
		return x
	}
	if f.n.Load() > 0 {
		f.mu.Lock()
		if k := len(f.reserve); k > 0 {
			x := f.reserve[k-1]
			f.reserve[k-1] = nil
			f.reserve = f.reserve[:k-1]
			f.n.Store(int32(k - 1))
			f.mu.Unlock()
			return x
		}
		f.mu.Unlock()
	}
	return f.newT()
}

// put returns x to the reserve if it has room, else to the pool.
func (f *freeList[T]) put(x *T) {
	if f.n.Load() < f.max {
		f.mu.Lock()
		if k := len(f.reserve); int32(k) < f.max {
			if f.reserve == nil {
				f.reserve = make([]*T, 0, f.max)
			}
			f.reserve = append(f.reserve, x)
			f.n.Store(int32(k + 1))
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
	}
	f.pool.Put(x)
}

// Reserve bounds. A reserve holds at most reserveBytes of chunks of one
// class and at most reserveObjects objects: enough for the packets one busy
// connection has in flight on an in-memory link (a 4096-frame queue and
// both windows), a few MiB that a process keeps once it has used them.
const (
	reserveBytes   = 8 << 20
	reserveObjects = 16384
)
