package leakcheck

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB records what check does with a testing.TB: its cleanups run when
// the fake test ends, and its errors are kept instead of failing the real
// test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	errors   []string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

// end runs the cleanups, last registered first, as testing does.
func (f *fakeTB) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func leakedWorker(stop <-chan struct{}) { <-stop }

func TestReportsLeakWithStack(t *testing.T) {
	f := &fakeTB{TB: t}
	check(f, 50*time.Millisecond)
	stop := make(chan struct{})
	defer close(stop)
	go leakedWorker(stop)
	f.end()
	if len(f.errors) != 1 {
		t.Fatalf("got %d errors, want 1: %q", len(f.errors), f.errors)
	}
	if msg := f.errors[0]; !strings.Contains(msg, "1 goroutine(s)") || !strings.Contains(msg, "leakcheck.leakedWorker") {
		t.Errorf("error does not name the leaked goroutine:\n%s", msg)
	}
}

func TestWaitsForGoroutinesThatExit(t *testing.T) {
	f := &fakeTB{TB: t}
	check(f, 5*time.Second)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leakedWorker(stop)
		}()
	}
	// The goroutines exit only while the check is already polling.
	f.Cleanup(func() { go func() { time.Sleep(20 * time.Millisecond); close(stop) }() })
	f.end()
	wg.Wait()
	if len(f.errors) != 0 {
		t.Errorf("unexpected failure: %q", f.errors)
	}
}

func TestIgnoresGoroutinesStartedBefore(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	go leakedWorker(stop)
	f := &fakeTB{TB: t}
	check(f, 20*time.Millisecond)
	f.end()
	if len(f.errors) != 0 {
		t.Errorf("blamed a goroutine started before Check: %q", f.errors)
	}
}

func TestAttribution(t *testing.T) {
	// The checked test runs on goroutine 7; goroutine 9 runs another test
	// in parallel; goroutine 3 existed before Check.
	all := []goroutine{
		{id: 1, runner: true},
		{id: 3},
		{id: 7, creator: 1, runner: true},
		{id: 9, creator: 1, runner: true},
		{id: 10, creator: 9, stack: "other test's worker"},
		{id: 11, creator: 10, stack: "other test's worker's child"},
		{id: 12, creator: 7, stack: "checked test's worker"},
		{id: 13, creator: 12, stack: "checked test's worker's child"},
		{id: 14, creator: 99, stack: "creator exited"},
		{id: 15, creator: 3, stack: "started by an older goroutine"},
		{id: 16, creator: 7, stack: "os/signal.loop()"},
		{id: 17, creator: 7, runner: true, stack: "a subtest"},
	}
	before := map[int64]bool{1: true, 3: true, 7: true, 9: true}
	var got []int64
	for _, g := range leaks(all, before, 7) {
		got = append(got, g.id)
	}
	want := []int64{12, 13, 14, 15}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("leaks = %v, want %v", got, want)
	}
}

func TestParse(t *testing.T) {
	dump := `goroutine 7 [running]:
pkg.TestX(0x1)
	/src/x_test.go:3 +0x49
testing.tRunner(0x1, 0x2)
	/go/src/testing/testing.go:2036 +0xea
created by testing.(*T).Run in goroutine 1
	/go/src/testing/testing.go:2101 +0x4c5

goroutine 1 [chan receive]:
main.main()
	_testmain.go:46 +0x9b

goroutine 8 [select, 2 minutes]:
pkg.worker()
	/src/x.go:3
created by pkg.TestX in goroutine 7
	/src/x_test.go:3 +0x1e
`
	got := parse([]byte(dump))
	want := []goroutine{{id: 7, creator: 1, runner: true}, {id: 1}, {id: 8, creator: 7}}
	if len(got) != len(want) {
		t.Fatalf("parsed %d goroutines, want %d", len(got), len(want))
	}
	for i := range want {
		g := got[i]
		g.stack = ""
		if g != want[i] {
			t.Errorf("goroutine %d: got %+v, want %+v", i, g, want[i])
		}
	}
	if !strings.HasPrefix(got[2].stack, "goroutine 8 [select, 2 minutes]:") {
		t.Errorf("stack of goroutine 8: %q", got[2].stack)
	}
}

func TestCheckPassesCleanTest(t *testing.T) {
	Check(t)
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
}
