package tcp_test

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// User calls on one goroutine while segments are delivered on another:
// segments that find the endpoint busy go to its backlog (DESIGN.md
// principle 5). Run with -race.
func TestConcurrentWriteAndDelivery(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	const total = 1 << 20
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		chunk := make([]byte, 3000)
		for sent := 0; sent < total; {
			n, err := cli.Write(chunk[:min(len(chunk), total-sent)], tcpip.WriteOptions{})
			if err != nil && !errors.Is(err, tcpip.ErrWouldBlock) {
				t.Errorf("Write: %v", err)
				return
			}
			sent += n
			runtime.Gosched()
		}
	}()
	got := 0
	buf := make([]byte, 1<<16)
	deadline := time.Now().Add(20 * time.Second)
	for got < total && time.Now().Before(deadline) {
		e.advance(time.Millisecond)
		for {
			res, err := srv.Read(buf, tcpip.ReadOptions{})
			if err != nil {
				break
			}
			got += res.N
		}
	}
	wg.Wait()
	if got != total {
		t.Fatalf("received %d of %d", got, total)
	}
}
