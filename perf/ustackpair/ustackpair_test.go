package ustackpair_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/perf"
	"github.com/ustack-go/ustack/perf/ustackpair"
)

// smallSizes keeps each workload to a fraction of a second.
var smallSizes = perf.Sizes{
	BulkBytes:       4 << 20,
	RRTransactions:  200,
	CRRConnections:  50,
	UDPDatagrams:    2000,
	IdleConnections: 100,
	LossyBytes:      2 << 20,
}

// TestWorkloads runs every workload once, small, at both MTUs, and checks
// that each reports every metric of its workload with a plausible value.
func TestWorkloads(t *testing.T) {
	for _, mtu := range []int{1500, 65535} {
		for _, w := range perf.Workloads() {
			t.Run(w.Name+"/"+map[int]string{1500: "1500", 65535: "65535"}[mtu], func(t *testing.T) {
				leakcheck.Check(t)
				progressed := false
				cfg := perf.Config{MTU: mtu, Sizes: smallSizes, Timeout: time.Minute,
					Progress: func(perf.Progress) { progressed = true }}
				res, err := perf.Run(w, ustackpair.Stack, cfg)
				if err != nil {
					t.Fatal(err)
				}
				_ = progressed // short runs may end before the first report
				if res.Stack != "ustack" || res.Workload != w.Name || res.MTU != mtu || res.Stat != perf.StatRun {
					t.Errorf("result header %+v", res)
				}
				for _, m := range w.Metrics {
					v, ok := res.Get(m.Name)
					if !ok {
						t.Errorf("metric %s missing", m.Name)
						continue
					}
					t.Logf("%s = %g %s", m.Name, v, m.Unit)
				}
				check := func(name string, ok func(float64) bool) {
					if v, _ := res.Get(name); !ok(v) {
						t.Errorf("%s = %g: implausible", name, v)
					}
				}
				positive := func(v float64) bool { return v > 0 }
				switch w.Name {
				case "bulk":
					check("gbps", positive)
					check("cpu_s_per_gib", positive)
				case "rr":
					check("tps", positive)
					check("lat_p99_us", positive)
				case "crr":
					check("conns_per_s", positive)
				case "udp":
					check("sent_pps", positive)
					check("recv_pps", positive)
					check("loss_pct", func(v float64) bool { return v >= 0 && v <= 100 })
				case "idle":
					check("heap_inuse_per_conn", positive)
					check("goroutines_per_conn", func(v float64) bool { return v < 1 })
				case "lossy":
					check("gbps", positive)
					check("sha256_ok", func(v float64) bool { return v == 1 })
					check("retransmits", positive)
				}
			})
		}
	}
}

// BenchmarkWorkloads runs each workload once per iteration at 1/16 of its
// default size and reports its metrics, for profiling the stack under a
// workload:
//
//	go test -run - -bench Workloads/bulk -cpuprofile cpu.out ./perf/ustackpair
func BenchmarkWorkloads(b *testing.B) {
	for _, w := range perf.Workloads() {
		b.Run(w.Name, func(b *testing.B) {
			cfg := perf.Config{Sizes: perf.ScaledSizes(1.0 / 16)}
			sums := make(map[string]float64)
			n := 0
			for b.Loop() {
				res, err := perf.Run(w, ustackpair.Stack, cfg)
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range res.Metrics {
					sums[m.Name] += m.Value
				}
				n++
			}
			for _, m := range w.Metrics {
				b.ReportMetric(sums[m.Name]/float64(n), m.Name)
			}
		})
	}
}

// BenchmarkBulkOffloads runs the bulk workload at 1/16 of its size with
// ustack's defaults, without GRO, and without GRO and checksum offload:
//
//	go test -run - -bench BulkOffloads ./perf/ustackpair
func BenchmarkBulkOffloads(b *testing.B) {
	w, _ := perf.Lookup("bulk")
	for _, v := range []struct {
		name string
		o    ustackpair.Options
	}{
		{"default", ustackpair.Options{}},
		{"nogro", ustackpair.Options{NoGRO: true}},
		{"nogro-nocsum", ustackpair.Options{NoGRO: true, NoChecksumOffload: true}},
	} {
		b.Run(v.name, func(b *testing.B) {
			st := ustackpair.StackWith("ustack-"+v.name, v.o)
			cfg := perf.Config{Sizes: perf.ScaledSizes(1.0 / 16)}
			sums := make(map[string]float64)
			n := 0
			for b.Loop() {
				res, err := perf.Run(w, st, cfg)
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range res.Metrics {
					sums[m.Name] += m.Value
				}
				n++
			}
			for _, m := range w.Metrics {
				b.ReportMetric(sums[m.Name]/float64(n), m.Name)
			}
		})
	}
}
