package buffer

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestReserveLargeClassSurvivesGC: a bulk transfer keeps tens of MiB of
// 64 KiB chunks in flight (its send queue alone autotunes up to 32 MiB),
// beyond what a per-class bound of a few MiB kept; the shared bound keeps
// them all across collections, and the pools, which a collection empties,
// are not touched: taking them again allocates nothing.
func TestReserveLargeClassSurvivesGC(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("coverage changes inlining; the race detector's sync.Pool drops items")
	}
	leakCheck(t)
	const n = 600 // 37.5 MiB of 64 KiB chunks
	bufs := make([]Buffer, n)
	big := pattern(3, MaxChunkSize)
	cycle := func() {
		for i := range bufs {
			bufs[i].Append(big)
		}
		for i := range bufs {
			bufs[i].Release()
		}
	}
	cycle()
	if r := ReadStats().ReserveBytes; r < n*MaxChunkSize {
		t.Fatalf("ReserveBytes = %d after releasing %d chunks of %d B", r, n, MaxChunkSize)
	}
	runtime.GC()
	runtime.GC() // a second cycle empties the pools' victim caches too
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cycle()
	runtime.ReadMemStats(&after)
	// The collections' cleanup (watchGC) may allocate its sentinel
	// meanwhile, and a pool that an earlier test overflowed is looked
	// at once: a handful, against the 2 per chunk that a GC-emptied
	// pool costs.
	if d := after.Mallocs - before.Mallocs; d > 8 {
		t.Errorf("%d chunks of 64 KiB again after runtime.GC: %d allocations, want ≤ 8", n, d)
	}
}

// TestReserveBound: the reserves together never hold more than
// reserveLimit bytes; what does not fit goes to the pool.
func TestReserveBound(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 160 MiB")
	}
	leakCheck(t)
	t.Cleanup(func() { ReleaseReserves() }) // 128 MiB kept for nothing otherwise
	n := reserveLimit/MaxChunkSize + 512
	bufs := make([]Buffer, n)
	big := pattern(4, MaxChunkSize)
	for i := range bufs {
		bufs[i].Append(big)
	}
	for i := range bufs {
		bufs[i].Release()
	}
	if r := ReadStats().ReserveBytes; r > reserveLimit || r < reserveLimit/2 {
		t.Errorf("ReserveBytes = %d after releasing %d chunks of 64 KiB, want at most %d (and most of it)", r, n, reserveLimit)
	}
}

// TestReserveTrim: trim lets go of what no get reached since the previous
// trim (the bottom of the stack) and keeps what was used.
func TestReserveTrim(t *testing.T) {
	const size = 1000
	var f freeList[[size]byte]
	f.init(100, size, makeEach[[size]byte])
	r0 := reserved.Load()
	check := func(when string, wantLen int) {
		t.Helper()
		f.mu.Lock()
		k := len(f.reserve)
		f.mu.Unlock()
		if k != wantLen || f.n.Load() != int32(k) {
			t.Errorf("%s: reserve holds %d (n %d), want %d", when, k, f.n.Load(), wantLen)
		}
	}
	var xs []*[size]byte
	for range 7 {
		xs = append(xs, f.get())
	}
	for _, x := range xs {
		f.put(x)
	}
	check("after 7 puts", 7)
	// The first trim closes the period in which the reserve was empty.
	if freed := f.trim(); freed != 0 {
		t.Errorf("first trim freed %d B, want 0", freed)
	}
	// 3 are taken and given back: the 4 below them stayed idle.
	for i := range 3 {
		xs[i] = f.get()
	}
	for i := range 3 {
		f.put(xs[i])
	}
	if freed := f.trim(); freed != 4*size {
		t.Errorf("trim after 3 of 7 were used freed %d B, want %d", freed, 4*size)
	}
	check("after trimming the idle ones", 3)
	if freed := f.trim(); freed != 3*size {
		t.Errorf("trim of an unused reserve freed %d B, want %d", freed, 3*size)
	}
	check("after trimming an unused reserve", 0)
	if f.reserve != nil {
		t.Error("an emptied reserve keeps its slice")
	}
	if d := reserved.Load() - r0; d != 0 {
		t.Errorf("reserved moved by %d B over puts and trims that balance", d)
	}
}

// TestTrimReservesPeriod: trimReserves trims once per reserveIdle, and
// the garbage collector's cleanup calls it.
func TestTrimReservesPeriod(t *testing.T) {
	reserves.mu.Lock()
	saved := reserves.last
	reserves.mu.Unlock()
	defer func() {
		reserves.mu.Lock()
		reserves.last = saved
		reserves.mu.Unlock()
	}()

	const size = 1000
	var f freeList[[size]byte]
	f.init(100, size, makeEach[[size]byte])
	// Far in the future, so that the collections' own calls (at
	// time.Now) do not trim meanwhile.
	t0 := time.Now().Add(1000 * time.Hour)
	trimReserves(t0)
	a, b := f.get(), f.get()
	f.put(a)
	f.put(b)
	f.trim() // both are below the low-water mark from now on
	if trimReserves(t0.Add(reserveIdle / 2)); f.n.Load() != 2 {
		t.Errorf("a trim within reserveIdle of the last one changed the reserve to %d", f.n.Load())
	}
	trimReserves(t0.Add(reserveIdle))
	if f.n.Load() != 0 {
		t.Errorf("a trim reserveIdle after the last one left %d idle objects", f.n.Load())
	}

	// A collection runs trimReserves once the period has passed.
	reserves.mu.Lock()
	past := time.Now().Add(-2 * reserveIdle)
	reserves.last = past
	reserves.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		reserves.mu.Lock()
		last := reserves.last
		reserves.mu.Unlock()
		if last.After(past) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no trim after garbage collections")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// makeEach is a freeList constructor that makes objects one by one.
func makeEach[T any](dst []*T, n int) []*T {
	for range n {
		dst = append(dst, new(T))
	}
	return dst
}

// TestBatchAllocations: a batch of chunks is one allocation for the
// small classes (the chunks with their bytes) and two for the others (the
// chunks, then their bytes); a batch of Packets or of view lists is one
// (two for the lists: the slabs and their views).
func TestBatchAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage changes inlining")
	}
	const n = 8
	check := func(name string, want float64, mk func()) {
		t.Helper()
		if got := testing.AllocsPerRun(20, mk); got != want {
			t.Errorf("a batch of %d %s: %v allocations, want %v", n, name, got, want)
		}
	}
	for _, size := range []int{64, 128, 256, 512, 1024, MaxChunkSize} {
		f := &chunkPools[chunkClass(size)]
		dst := make([]*chunk, 0, n)
		want := 2.0
		if size <= 512 {
			want = 1
		}
		check(fmt.Sprintf("chunks of %d B", size), want, func() { dst = f.mk(dst[:0], n) })
		for _, c := range dst {
			if len(c.data) != size || cap(c.data) != size || int(c.class) != chunkClass(size) {
				t.Errorf("chunk of %d B: len %d cap %d class %d", size, len(c.data), cap(c.data), c.class)
			}
		}
		// The chunks of a batch do not overlap.
		for i, c := range dst {
			c.data[0], c.data[size-1] = byte(i), byte(i)
		}
		for i, c := range dst {
			if c.data[0] != byte(i) || c.data[size-1] != byte(i) {
				t.Errorf("chunks of %d B: chunk %d overwritten by another", size, i)
			}
		}
	}
	pkts := make([]*Packet, 0, n)
	check("Packets", 1, func() { pkts = packetPool.mk(pkts[:0], n) })
	slabs := make([]*viewSlab, 0, n)
	check("view lists", 2, func() { slabs = slabPools[0].mk(slabs[:0], n) })
}

// TestGrowBatches: a list that keeps running dry makes its objects in
// batches of an eighth of what it made, so that n objects take about
// log(n) batches and a few more, and it holds no more than an eighth
// beyond what is in use.
func TestGrowBatches(t *testing.T) {
	const n = 5000
	batches := 0
	var f freeList[[100]byte]
	f.init(10000, 100, func(dst []*[100]byte, k int) []*[100]byte {
		batches++
		return makeEach(dst, k)
	})
	defer f.release()
	xs := make([]*[100]byte, 0, n)
	for range n {
		xs = append(xs, f.get())
	}
	made := int(f.made.Load())
	if made < n || made > n+n/reserveGrowDiv+1 {
		t.Errorf("%d in use: %d made, want %d to %d", n, made, n, n+n/reserveGrowDiv+1)
	}
	if k := int(f.n.Load()); k != made-n {
		t.Errorf("reserve holds %d, want the %d made beyond those in use", k, made-n)
	}
	// 8 batches of one, then growth by 1/8 up to batches of 64: n/64
	// batches and the climb to them.
	if batches > n/reserveBatchObjects+40 {
		t.Errorf("%d objects made in %d batches", made, batches)
	}
	for _, x := range xs {
		f.put(x)
	}
	before := batches
	for range n {
		f.put(f.get())
	}
	if batches != before {
		t.Errorf("reusing them made %d batches more", batches-before)
	}
}
