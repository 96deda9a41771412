package perf

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseWorkloads(t *testing.T) {
	for _, list := range []string{"", "all"} {
		ws, err := ParseWorkloads(list)
		if err != nil || len(ws) != 6 {
			t.Errorf("ParseWorkloads(%q) = %d workloads, %v", list, len(ws), err)
		}
	}
	ws, err := ParseWorkloads("lossy, bulk")
	if err != nil || len(ws) != 2 || ws[0].Name != "lossy" || ws[1].Name != "bulk" {
		t.Errorf("ParseWorkloads(lossy, bulk) = %v, %v", ws, err)
	}
	for _, bad := range []string{"bulk,nope", "rr,rr", ","} {
		if _, err := ParseWorkloads(bad); err == nil {
			t.Errorf("ParseWorkloads(%q) succeeded", bad)
		}
	}
}

func TestSummarize(t *testing.T) {
	run := func(gbps, ok float64) Result {
		return Result{Stack: "s", Workload: "lossy", MTU: 1500, Stat: StatRun, Runs: 1,
			Metrics: []Metric{{"gbps", gbps}, {"sha256_ok", ok}}}
	}
	med, lo, hi := Summarize([]Result{run(3, 1), run(1, 1), run(2, 0)})
	check := func(r Result, stat string, gbps, ok float64) {
		t.Helper()
		g, _ := r.Get("gbps")
		o, _ := r.Get("sha256_ok")
		if r.Stat != stat || r.Runs != 3 || r.Stack != "s" || g != gbps || o != ok {
			t.Errorf("%s = %+v, want gbps %g sha256_ok %g", stat, r, gbps, ok)
		}
	}
	check(med, StatMedian, 2, 0) // a boolean's summary is true only if every run's was
	check(lo, StatMin, 1, 0)
	check(hi, StatMax, 3, 1)
	med, _, _ = Summarize([]Result{run(1, 1), run(4, 1)})
	if g, _ := med.Get("gbps"); g != 2.5 {
		t.Errorf("median of two runs = %g, want their mean 2.5", g)
	}
}

func TestResultJSON(t *testing.T) {
	r := Result{Stack: "ustack", Workload: "lossy", MTU: 1500, Stat: StatRun, Run: 2, Runs: 1,
		Metrics: []Metric{{"gbps", 1.25}, {"sha256_ok", 1}, {"retransmits", 10}, {"rto_timeouts", 0}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"stack":"ustack","workload":"lossy","mtu":1500,"stat":"run","run":2,"runs":1,"gbps":1.25,"sha256_ok":true,"retransmits":10,"rto_timeouts":0}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
	r.Stat, r.Run, r.Runs = StatMedian, 0, 3
	b, _ = json.Marshal(r)
	if strings.Contains(string(b), `"run":`) || !strings.Contains(string(b), `"stat":"median","runs":3`) {
		t.Errorf("summary JSON = %s", b)
	}
}

func TestLatencyMetrics(t *testing.T) {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Microsecond
	}
	ms := latencyMetrics(lat)
	want := map[string]float64{"lat_mean_us": 50.5, "lat_p50_us": 50, "lat_p99_us": 99}
	for _, m := range ms {
		if m.Value != want[m.Name] {
			t.Errorf("%s = %g, want %g", m.Name, m.Value, want[m.Name])
		}
	}
}

func TestScaledSizes(t *testing.T) {
	s := ScaledSizes(0.5)
	d := DefaultSizes()
	if s.BulkBytes != d.BulkBytes/2 || s.UDPDatagrams != d.UDPDatagrams/2 {
		t.Errorf("ScaledSizes(0.5) = %+v", s)
	}
	if s := ScaledSizes(1e-9); s.RRTransactions != 1 || s.LossyBytes != 1 {
		t.Errorf("ScaledSizes(tiny) = %+v, want at least 1 of each", s)
	}
}
