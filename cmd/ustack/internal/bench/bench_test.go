package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ustack-go/ustack/perf"
)

func TestParseArgs(t *testing.T) {
	var out strings.Builder
	cfg, err := ParseArgs(nil, &out)
	if err != nil {
		t.Fatalf("ParseArgs(nil): %v", err)
	}
	if len(cfg.Workloads) != len(perf.Workloads()) || cfg.MTU != 1500 || cfg.Runs != 3 || cfg.JSON != "" || cfg.Scale != 1 {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = ParseArgs([]string{"-w", "rr,bulk", "-mtu", "65535", "-runs", "5", "-json", "out.json", "-scale", "0.5"}, &out)
	if err != nil {
		t.Fatalf("ParseArgs: %v", err)
	}
	if len(cfg.Workloads) != 2 || cfg.Workloads[0].Name != "rr" || cfg.Workloads[1].Name != "bulk" ||
		cfg.MTU != 65535 || cfg.Runs != 5 || cfg.JSON != "out.json" || cfg.Scale != 0.5 {
		t.Errorf("parsed = %+v", cfg)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-w", "nope"}, `unknown workload "nope"`},
		{[]string{"-w", "rr,rr"}, "listed twice"},
		{[]string{"-mtu", "67"}, "out of range"},
		{[]string{"-mtu", "65536"}, "out of range"},
		{[]string{"-runs", "0"}, "at least 1"},
		{[]string{"-scale", "0"}, "out of range"},
		{[]string{"-scale", "2"}, "out of range"},
		{[]string{"-bogus"}, "not defined"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := ParseArgs(tc.args, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errUsage) {
			t.Errorf("ParseArgs(%q) = %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
	var help strings.Builder
	if _, err := ParseArgs([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("ParseArgs(-h) = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(help.String(), Usage) || !strings.Contains(help.String(), "lossy") {
		t.Errorf("help = %q", help.String())
	}
}

func TestMainUsageError(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := Main([]string{"-runs", "x"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "usage: "+Usage) {
		t.Errorf("stderr = %q", stderr.String())
	}
}

// TestMainSmoke runs every workload, tiny, twice, and checks the table and
// the JSON lines: one per run and the median, min and max of each workload.
func TestMainSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the workloads")
	}
	file := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr strings.Builder
	if code := Main([]string{"-scale", "0.002", "-runs", "2", "-json", file}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, stderr %q", code, stderr.String())
	}
	for _, w := range perf.Workloads() {
		if !strings.Contains(stdout.String(), w.Name+" (mtu 1500, 2 runs)") {
			t.Errorf("table lacks %s:\n%s", w.Name, stdout.String())
		}
		for _, m := range w.Metrics {
			if !strings.Contains(stdout.String(), m.Name) {
				t.Errorf("table lacks %s", m.Name)
			}
		}
	}
	if !strings.Contains(stderr.String(), "ustack lossy: run 2/2") {
		t.Errorf("no progress line on stderr: %q", stderr.String())
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	count := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		w, ok := perf.Lookup(obj["workload"].(string))
		if !ok || obj["stack"] != "ustack" || obj["mtu"] != 1500.0 {
			t.Errorf("line %q", sc.Text())
			continue
		}
		for _, m := range w.Metrics {
			if _, ok := obj[m.Name]; !ok {
				t.Errorf("line %q lacks %s", sc.Text(), m.Name)
			}
		}
		count[w.Name+"/"+obj["stat"].(string)]++
	}
	for _, w := range perf.Workloads() {
		for stat, n := range map[string]int{"run": 2, "median": 1, "min": 1, "max": 1} {
			if got := count[w.Name+"/"+stat]; got != n {
				t.Errorf("%s: %d lines with stat %s, want %d", w.Name, got, stat, n)
			}
		}
	}
}
