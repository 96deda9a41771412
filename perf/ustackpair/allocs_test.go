package ustackpair_test

import (
	"slices"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/perf"
	"github.com/ustack-go/ustack/perf/ustackpair"
)

// TestBulkAllocs holds issue 7's target for the bulk workload: at most one
// allocation per MiB moved, on the median of runs. The count is the
// workload's own (runtime.MemStats.Mallocs over the transfer, after the
// runtime.GC that empties the sync.Pools' primary caches), so it does not
// depend on the machine's speed.
//
// The first run of a process allocates every chunk and Packet that the
// transfer has in flight at once (over 10 000 objects). The buffer
// package's reserves keep them across collections, so later runs allocate
// only per connection (timers, the backlog's array, wait queue entries:
// about 80 objects) and when a run has more in flight than any before it:
// a receiver's backlog longer than ever (its reader descheduled while
// holding the endpoint's lock: each segment queued meanwhile is copied),
// more packets in the link's queues (the first warm run has more than the
// cold one). Such a run may exceed the target on its own. The warm-up
// runs go on until the reserves stop growing (a run adding less than
// 1 MiB to them), at least 2 and at most 8, and the median of the
// measured runs discounts the new peaks that come after. At 512 MiB a run
// takes about half a second on a quiet machine.
func TestBulkAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items: allocation counts mean nothing")
	}
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocations")
	}
	if testing.Short() {
		t.Skip("moves several GiB")
	}
	leakcheck.Check(t)
	const (
		size       = 512 << 20
		minWarmups = 2
		maxWarmups = 8
		steady     = 1 << 20 // reserve growth of a run that ends the warm-up
		measured   = 5
		maxPerMi   = 1.0
	)
	w, _ := perf.Lookup("bulk")
	cfg := perf.Config{Sizes: perf.Sizes{BulkBytes: size}, Timeout: 5 * time.Minute}
	run := func(name string) float64 {
		t.Helper()
		r0 := buffer.ReadStats().ReserveBytes
		res, err := perf.Run(w, ustackpair.Stack, cfg)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := res.Get("allocs_per_mib")
		if !ok {
			t.Fatal("no allocs_per_mib metric")
		}
		r1 := buffer.ReadStats().ReserveBytes
		t.Logf("%s: %.3f allocations per MiB (%.0f); buffer reserves %.1f MiB (%+.1f)",
			name, v, v*size/(1<<20), float64(r1)/(1<<20), float64(r1-r0)/(1<<20))
		if name != "measured" {
			return float64(r1 - r0)
		}
		return v
	}
	for i := 1; i <= maxWarmups; i++ {
		if grew := run("warm-up"); i >= minWarmups && grew < steady {
			break
		}
	}
	var got []float64
	for range measured {
		got = append(got, run("measured"))
	}
	slices.Sort(got)
	if med := got[len(got)/2]; med > maxPerMi {
		t.Errorf("bulk: median %.3f allocations per MiB over %d runs of %d MiB (sorted: %.3f), want ≤ %g",
			med, measured, size>>20, got, maxPerMi)
	}
}
