package tcp_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// DESIGN.md principle 7: once warm, data written on an established
// connection and read on the other stack allocates nothing on the send
// path, the receive path, the ACKs or the links between them.
func TestAllocsSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	e := newEnv(t, true)
	e.sn.off.Store(true)
	cli, srv, _ := e.connectPair()
	payload := make([]byte, 1000)
	buf := make([]byte, 4096)
	var wopts tcpip.WriteOptions
	var ropts tcpip.ReadOptions
	roundTrip := func() {
		if _, err := cli.Write(payload, wopts); err != nil {
			t.Fatal(err)
		}
		e.hub.Pump()
		if res, err := srv.Read(buf, ropts); err != nil || res.N != len(payload) {
			t.Fatalf("Read = %+v, %v", res, err)
		}
		if _, err := srv.Write(payload, wopts); err != nil {
			t.Fatal(err)
		}
		e.hub.Pump()
		if res, err := cli.Read(buf, ropts); err != nil || res.N != len(payload) {
			t.Fatalf("Read = %+v, %v", res, err)
		}
		e.clock.Advance(time.Millisecond)
	}
	for range 100 {
		roundTrip()
	}
	if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
		t.Fatalf("%v allocations per round trip, want 0", n)
	}
}
