package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ustack-go/ustack/perf"
	"github.com/ustack-go/ustack/perf/ustackpair"
)

func TestParseArgs(t *testing.T) {
	o, err := parseArgs(nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	// Every workload at 1500, and bulk again at 65535.
	if n := len(perf.Workloads()) + 1; len(o.steps) != n || o.steps[n-1].w.Name != "bulk" || o.steps[n-1].mtu != 65535 {
		t.Errorf("default steps = %v", o.steps)
	}
	o, err = parseArgs([]string{"-w", "rr,crr", "-mtu", "1500,9000", "-runs", "5"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.steps) != 4 || o.steps[3].w.Name != "crr" || o.steps[3].mtu != 9000 || o.runs != 5 {
		t.Errorf("steps = %v, runs %d", o.steps, o.runs)
	}
	for _, args := range [][]string{{"-w", "x"}, {"-mtu", "10"}, {"-runs", "0"}, {"-scale", "3"}, {"extra"}} {
		if _, err := parseArgs(args, &strings.Builder{}); err == nil {
			t.Errorf("parseArgs(%q) succeeded", args)
		}
	}
}

func TestVerdict(t *testing.T) {
	res := func(kv ...any) perf.Result {
		var r perf.Result
		for i := 0; i < len(kv); i += 2 {
			r.Metrics = append(r.Metrics, perf.Metric{Name: kv[i].(string), Value: kv[i+1].(float64)})
		}
		return r
	}
	udp, _ := findTarget("udp", "recv_pps", 1500)
	if !udp.verdict(res("recv_pps", 10.0, "loss_pct", 0.0), 2.5) || udp.verdict(res("recv_pps", 10.0, "loss_pct", 0.1), 2.5) || udp.verdict(res("loss_pct", 0.0), 1.9) {
		t.Error("udp target verdicts wrong")
	}
	allocs, _ := findTarget("bulk", "allocs_per_mib", 1500)
	if !allocs.verdict(res("allocs_per_mib", 0.5), 100) || allocs.verdict(res("allocs_per_mib", 2.0), 0.001) {
		t.Error("absolute target verdicts wrong")
	}
	heap, _ := findTarget("idle", "heap_inuse_per_conn", 1500)
	if !heap.verdict(res(), 0.3) || heap.verdict(res(), 0.4) {
		t.Error("at-most ratio verdicts wrong")
	}
}

// TestCompare runs every workload, tiny, once on each stack, and checks the
// table and the JSON lines.
func TestCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the workloads")
	}
	o, err := parseArgs([]string{"-scale", "0.001", "-runs", "1", "-json", filepath.Join(t.TempDir(), "out.json")}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	if err := compare(o, []perf.Stack{ustackpair.Stack, gvisorStack}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ustack (min–max)", "gvisor (min–max)", "heap_inuse_per_conn", "65535", "≥ 2.5×"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	f, err := os.Open(o.json)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stacks := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		if obj["stat"] == "median" {
			stacks[obj["stack"].(string)]++
		}
	}
	if stacks["ustack"] != len(o.steps) || stacks["gvisor"] != len(o.steps) {
		t.Errorf("median lines per stack: %v, want %d each", stacks, len(o.steps))
	}
}
