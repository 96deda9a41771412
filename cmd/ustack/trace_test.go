package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunTrace runs `ustack trace` on a small transfer and checks the
// files it writes.
func TestRunTrace(t *testing.T) {
	dir := t.TempDir()
	svg, csv := filepath.Join(dir, "t.svg"), filepath.Join(dir, "t.csv")
	var stdout, stderr strings.Builder
	code := run([]string{"trace", "-size", "64K", "-rtt", "10ms", "-bw", "10M", "-cc", "cubic", "-o", svg, "-csv", csv}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "65536/65536 bytes") || !strings.Contains(stdout.String(), "wrote "+svg) {
		t.Fatalf("ustack trace = %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	for _, f := range []string{svg, csv} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"trace", "-h"}, 0}, {[]string{"trace", "-loss", "x"}, 2}, {[]string{"trace", "-cc", "nope", "-o", filepath.Join(dir, "n.svg")}, 1}} {
		stdout.Reset()
		stderr.Reset()
		if code := run(tc.args, &stdout, &stderr); code != tc.code {
			t.Errorf("run(%q) = %d, want %d (stderr %q)", tc.args, code, tc.code, stderr.String())
		}
	}
}
