package buffer

import (
	"io"
	"runtime"
	"sync"
	"testing"
)

// assertNoAllocs runs f once to warm the pools, then fails t if f
// allocates.
func assertNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	f()
	if n := testing.AllocsPerRun(200, f); n != 0 {
		t.Errorf("%s: %v allocations per run, want 0", name, n)
	}
}

func TestNoAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("coverage changes inlining; the race detector's sync.Pool drops items")
	}
	leakCheck(t)
	seg := pattern(1, 1460)
	big, _ := multiChunk(2, 20000, 1460) // 14 views: a slab
	defer big.Release()
	var sink int

	assertNoAllocs(t, "Append+Release", func() {
		var b Buffer
		b.Append(seg)
		b.Append(seg)
		b.Release()
	})
	assertNoAllocs(t, "Extend+Truncate", func() {
		var b Buffer
		copy(b.Extend(1514), seg)
		b.Truncate(60)
		b.Release()
	})
	assertNoAllocs(t, "Split+TrimFront+Merge", func() {
		var b Buffer
		b.Append(seg)
		f := b.Split(100)
		b.TrimFront(10)
		f.Merge(&b)
		f.Release()
	})
	assertNoAllocs(t, "Clone+Release", func() {
		c := big.Clone()
		c.Release()
	})
	assertNoAllocs(t, "CloneRange+Release", func() {
		c := big.CloneRange(1000, 3000)
		c.Release()
	})
	assertNoAllocs(t, "slab Split+TrimFront+Truncate", func() {
		c := big.Clone()
		f := c.Split(9000)
		c.TrimFront(3000)
		c.Truncate(5000)
		f.Merge(&c)
		f.Release()
	})
	assertNoAllocs(t, "PullUp gather", func() {
		c := big.CloneRange(1000, 3000)
		p, _ := c.PullUp(2000)
		sink += len(p)
		c.Release()
	})
	assertNoAllocs(t, "All", func() {
		for p := range big.All() {
			sink += len(p)
		}
	})
	assertNoAllocs(t, "CopyTo+ReadAt+Equal", func() {
		var p [100]byte
		sink += big.CopyTo(p[:])
		n, _ := big.ReadAt(p[:], 5000)
		sink += n
		if big.Equal(big) {
			sink++
		}
	})
	assertNoAllocs(t, "WriteTo", func() {
		c := big.Clone()
		c.WriteTo(io.Discard)
	})
	assertNoAllocs(t, "NewPacket+Prepend+Release", func() {
		b := big.CloneRange(0, 1460)
		p := NewPacket(64, &b)
		p.PrependHeader(TransportLayer, 20)
		p.PrependHeader(NetworkLayer, 20)
		p.PrependHeader(LinkLayer, 14)
		for b := range p.All() {
			sink += len(b)
		}
		p.Release()
	})
	assertNoAllocs(t, "inbound Consume+Clone+Release", func() {
		var b Buffer
		b.Append(seg)
		p := NewPacket(0, &b)
		p.ConsumeHeader(LinkLayer, 14)
		p.ConsumeHeader(NetworkLayer, 20)
		p.ConsumeHeader(TransportLayer, 20)
		c := p.Clone()
		p.Release()
		var q Buffer
		q.Merge(&c.Payload)
		c.Release()
		q.Release()
	})
	_ = sink
}

// TestConcurrentClones shares chunks between goroutines: one keeps
// appending to, trimming and cloning a Buffer, the others check their
// clones and release them. Run it with -race.
func TestConcurrentClones(t *testing.T) {
	leakCheck(t)
	const workers, rounds = 4, 300
	type msg struct {
		b    Buffer
		want []byte
	}
	ch := make(chan *msg, 16)
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for range workers {
		wg.Go(func() {
			for m := range ch {
				if !m.b.EqualBytes(m.want) {
					errs <- "clone changed under a concurrent writer"
				}
				if m.b.Len() > 10 {
					f := m.b.Split(m.b.Len() / 2)
					f.Release()
				}
				m.b.Release()
			}
		})
	}
	var b Buffer
	var want []byte
	for i := range rounds {
		d := pattern(byte(i), 100+i*37%3000)
		b.Append(d)
		want = append(want, d...)
		m := &msg{b: b.CloneRange(0, b.Len()), want: append([]byte(nil), want...)}
		ch <- m
		if b.Len() > 20000 {
			b.TrimFront(15000)
			want = want[15000:]
		}
		// Writing in place copies first when the bytes are shared.
		if p, ok := b.PullUpWritable(min(b.Len(), 50)); ok {
			for k := range p {
				p[k]++
				want[k]++
			}
		}
	}
	close(ch)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	checkEqual(t, &b, want)
	b.Release()
}

// TestConcurrentPackets clones packets to a sniffer goroutine while the
// sender releases its own copies.
func TestConcurrentPackets(t *testing.T) {
	leakCheck(t)
	ch := make(chan *Packet, 8)
	done := make(chan int)
	go func() {
		n := 0
		for p := range ch {
			n += len(p.AppendTo(nil))
			p.Release()
		}
		done <- n
	}()
	var q Buffer
	q.Append(pattern(1, 50000))
	total := 0
	for off := 0; off+1460 <= q.Len(); off += 1460 {
		seg := q.CloneRange(off, 1460)
		p := NewPacket(54, &seg)
		p.PrependHeader(TransportLayer, 20)
		p.PrependHeader(NetworkLayer, 20)
		p.PrependHeader(LinkLayer, 14)
		ch <- p.Clone()
		total += p.Len()
		p.Release()
	}
	close(ch)
	if got := <-done; got != total {
		t.Errorf("sniffer saw %d bytes, want %d", got, total)
	}
	q.Release()
}

// TestConcurrentAppendToClones has goroutines append to clones of one
// Buffer at once: they race for the shared chunk's free space, and each
// must end up with its own bytes. Run it with -race.
func TestConcurrentAppendToClones(t *testing.T) {
	leakCheck(t)
	for round := range 50 {
		var b Buffer
		base := pattern(byte(round), 100+round)
		b.Append(base)
		var wg sync.WaitGroup
		clones := make([]Buffer, 4)
		for i := range clones {
			clones[i] = b.Clone()
		}
		fail := make(chan int, len(clones))
		for i := range clones {
			wg.Go(func() {
				c := &clones[i]
				d := pattern(byte(i*50), 10+i)
				want := append([]byte(nil), base...)
				for range 5 {
					c.Append(d)
					want = append(want, d...)
				}
				c.TrimFront(10)
				if !c.EqualBytes(want[10:]) {
					fail <- i
				}
				c.Release()
			})
		}
		b.Append([]byte("original"))
		wg.Wait()
		close(fail)
		for i := range fail {
			t.Errorf("round %d: clone %d lost its bytes", round, i)
		}
		checkEqual(t, &b, append(append([]byte(nil), base...), "original"...))
		b.Release()
	}
}

// TestReserveSurvivesGC: packets and chunks in flight are reused after a
// garbage collection, which empties sync.Pools: a stack that had n packets
// in flight before a collection allocates nothing to have them again.
func TestReserveSurvivesGC(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage changes inlining")
	}
	leakCheck(t)
	const n = 2000 // under every reserve's bound
	seg := pattern(5, 1460)
	pkts := make([]*Packet, n)
	cycle := func() {
		for i := range pkts {
			p := NewPacket(128, nil)
			p.Payload.Append(seg)
			pkts[i] = p
		}
		for _, p := range pkts {
			p.Release()
		}
	}
	cycle()
	runtime.GC()
	runtime.GC() // a second cycle empties the pools' victim caches too
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cycle()
	runtime.ReadMemStats(&after)
	// A few allocations may come from the runtime itself (the pool's
	// per-P structures after a collection): far fewer than the 2 per
	// packet and chunk that a GC-emptied pool would cost.
	if d := after.Mallocs - before.Mallocs; d > n/100 {
		t.Errorf("%d packets and %d chunks after runtime.GC: %d allocations, want ≤ %d", n, 2*n, d, n/100)
	}
}
