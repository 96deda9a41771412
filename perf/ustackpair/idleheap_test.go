//go:build !race

package ustackpair_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/perf"
	"github.com/ustack-go/ustack/perf/ustackpair"
)

// idleHeapBound is the most heap in use that an idle connection pair (a
// client and a server end, both gonet TCPConns) may cost, in bytes:
// 2 905–2 915 B measured by this test (linux/amd64, Go 1.26: the TCP
// endpoint in the 1024-byte size class, each end's demultiplexer entry,
// the client's port reservation, two TCPConns, one shared Route), plus
// 10 %. Issue 7's target, a third of gVisor's 11 127–11 407 B in the same
// workload, is about 3 700 B.
const idleHeapBound = 3200

// TestIdleHeapPerConnection pins the idle workload's heap per connection
// pair under idleHeapBound, so that a field added to the TCP endpoint or a
// per-connection allocation that pushes the footprint up fails here
// rather than in a benchmark table. HeapInuse is a count, not a
// timing: it does not depend on the machine's load. The race detector's
// shadow memory changes it, hence the build tag.
func TestIdleHeapPerConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 5 000 connection pairs")
	}
	cfg := perf.Config{MTU: 1500, Sizes: perf.Sizes{IdleConnections: 5000}, Timeout: 2 * time.Minute}
	w, ok := perf.Lookup("idle")
	if !ok {
		t.Fatal("no idle workload")
	}
	res, err := perf.Run(w, ustackpair.Stack, cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := res.Get("heap_inuse_per_conn")
	if !ok {
		t.Fatal("heap_inuse_per_conn missing")
	}
	t.Logf("heap in use per idle connection pair: %.0f B (bound %d B)", v, idleHeapBound)
	if v > idleHeapBound {
		t.Errorf("heap in use per idle connection pair = %.0f B, want at most %d B", v, idleHeapBound)
	}
	if g, _ := res.Get("goroutines_per_conn"); g != 0 {
		t.Errorf("goroutines per idle connection = %g, want 0", g)
	}
}
