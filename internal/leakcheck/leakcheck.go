// Package leakcheck fails a test that leaves goroutines behind, the check
// behind ustack's promise that Close frees everything (DESIGN.md principle
// 10). Every test of a stack, link or endpoint starts with
//
//	leakcheck.Check(t)
//
// before it creates anything, so that its cleanup runs after every other
// cleanup of the test (t.Cleanup runs functions last-registered first).
//
// The check compares goroutines by identity, not by count: it remembers
// which goroutines exist when Check is called and, when the test ends, looks
// at the goroutines that were started since and still run. It ignores the
// testing package's own goroutines (test and subtest runners) and goroutines
// descended from another test running in parallel, so that parallel tests
// do not blame each other; a goroutine whose creator has exited is blamed on
// the checked test. Goroutines need time to notice a Close and return, so
// the check polls for up to a few seconds of wall time before it fails the
// test with the stacks of the goroutines still running.
package leakcheck

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wait is how long Check's cleanup waits for goroutines to exit.
const wait = 5 * time.Second

// Check records the goroutines running now and registers a cleanup that
// fails t if goroutines started since are still running when the test and
// its other cleanups have finished. Call it first in the test, from the
// test's own goroutine.
func Check(t testing.TB) {
	t.Helper()
	check(t, wait)
}

func check(t testing.TB, wait time.Duration) {
	t.Helper()
	start := snapshot()
	self := currentID()
	before := make(map[int64]bool, len(start))
	for _, g := range start {
		before[g.id] = true
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(wait)
		pause := time.Millisecond
		for {
			leaked := leaks(snapshot(), before, self)
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				var b strings.Builder
				for _, g := range leaked {
					b.WriteString("\n\n")
					b.WriteString(g.stack)
				}
				t.Errorf("leakcheck: %d goroutine(s) still running %v after the test:%s", len(leaked), wait, b.String())
				return
			}
			time.Sleep(pause)
			pause = min(2*pause, 50*time.Millisecond)
		}
	})
}

// goroutine is one goroutine of a runtime.Stack dump.
type goroutine struct {
	id      int64
	creator int64 // the goroutine that started it; 0 if the dump names none
	runner  bool  // it runs a test (a testing.tRunner frame)
	stack   string
}

// background lists functions of the standard library that start a
// goroutine of their own on first use and keep it for the life of the
// process; a goroutine whose stack contains one is not a leak.
var background = []string{
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
}

// leaks returns the goroutines of all that are not in before, not the
// checked test's goroutine self, not test runners and not started, directly
// or through other goroutines, by a test runner other than self.
func leaks(all []goroutine, before map[int64]bool, self int64) []goroutine {
	byID := make(map[int64]*goroutine, len(all))
	for i := range all {
		byID[all[i].id] = &all[i]
	}
	var out []goroutine
	for _, g := range all {
		if before[g.id] || g.id == self || g.runner || isBackground(g.stack) {
			continue
		}
		if descendsFromOtherTest(g, byID, self) {
			continue
		}
		out = append(out, g)
	}
	return out
}

// descendsFromOtherTest follows g's creators through the goroutines still
// running and reports whether the chain reaches a test runner other than
// self. A chain that reaches self, or a creator that has exited, is the
// checked test's.
func descendsFromOtherTest(g goroutine, byID map[int64]*goroutine, self int64) bool {
	for range len(byID) { // bound the walk: ids never repeat in a chain
		if g.creator == self || g.creator == 0 {
			return false
		}
		c, ok := byID[g.creator]
		if !ok {
			return false
		}
		if c.runner {
			return true
		}
		g = *c
	}
	return false
}

func isBackground(stack string) bool {
	for _, f := range background {
		if strings.Contains(stack, f) {
			return true
		}
	}
	return false
}

// snapshot returns every goroutine of the process but system ones.
func snapshot() []goroutine {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true /* all */)
		if n < len(buf) {
			return parse(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// currentID returns the calling goroutine's id.
func currentID() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	id, _ := parseHeader(buf[:n])
	return id
}

// parse splits a runtime.Stack dump, goroutine records separated by blank
// lines, each starting "goroutine N [state]:" and ending, for all but the
// main goroutine, with "created by F in goroutine M" and its file line.
func parse(dump []byte) []goroutine {
	var out []goroutine
	for rec := range bytes.SplitSeq(dump, []byte("\n\n")) {
		rec = bytes.TrimSpace(rec)
		id, ok := parseHeader(rec)
		if !ok {
			continue
		}
		g := goroutine{id: id, stack: string(rec)}
		for line := range strings.Lines(g.stack) {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "testing.tRunner(") {
				g.runner = true
			}
			if rest, ok := strings.CutPrefix(line, "created by "); ok {
				if _, num, ok := strings.Cut(rest, " in goroutine "); ok {
					g.creator, _ = strconv.ParseInt(num, 10, 64)
				}
			}
		}
		out = append(out, g)
	}
	return out
}

// parseHeader reads N from a record starting "goroutine N [".
func parseHeader(rec []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(rec, []byte("goroutine "))
	if !ok {
		return 0, false
	}
	num, _, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(string(num), 10, 64)
	return id, err == nil
}
