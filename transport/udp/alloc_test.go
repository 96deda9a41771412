package udp_test

import (
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

// DESIGN.md principle 7: once warm, a datagram written to a connected peer
// and read on the other stack allocates nothing, on the send path, the
// receive path, or the links between them.
func TestAllocsSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, eth := range []bool{false, true} {
		name := "ip"
		if eth {
			name = "ethernet"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{eth: eth})
			srv := bound(t, e.b, addrB, 53)
			cli := newUDP(t, e.a)
			if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 53}); err != nil {
				t.Fatal(err)
			}
			if err := srv.Connect(tcpip.FullAddress{Addr: addrA, Port: localPort(t, cli)}); err != nil {
				t.Fatal(err)
			}
			payload := make([]byte, 512)
			buf := make([]byte, 1500)
			var opts tcpip.WriteOptions
			var ropts tcpip.ReadOptions
			roundTrip := func() {
				if _, err := cli.Write(payload, opts); err != nil {
					t.Fatal(err)
				}
				e.hub.Pump()
				if res, err := srv.Read(buf, ropts); err != nil || res.N != len(payload) {
					t.Fatalf("Read = %+v, %v", res, err)
				}
				if _, err := srv.Write(payload, opts); err != nil {
					t.Fatal(err)
				}
				e.hub.Pump()
				if res, err := cli.Read(buf, ropts); err != nil || res.N != len(payload) {
					t.Fatalf("Read = %+v, %v", res, err)
				}
			}
			for range 10 {
				roundTrip()
			}
			if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
				t.Fatalf("%v allocations per round trip, want 0", n)
			}
		})
	}
}
