package udp_test

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

// Writers, a reader, option changes, the packet pump and Close running at
// once (for the race detector): nothing is lost that was not counted, and
// Close wins cleanly.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, envOptions{eth: true})
	srv := bound(t, e.b, netip.Addr{}, 53, tcpip.ReceiveBufferSizeOption(1<<20))
	clients := []tcpip.Endpoint{newUDP(t, e.a), newUDP(t, e.a)}
	if err := clients[1].Connect(tcpip.FullAddress{Addr: addrB, Port: 53}); err != nil {
		t.Fatal(err)
	}
	// Resolve B's link address first: packets waiting for ARP are
	// bounded by the neighbour cache (and counted there).
	send(t, clients[1], []byte("warm up"), nil)
	e.hub.Pump()
	expect(t, srv, []byte("warm up"), netip.AddrPort{})
	const perWriter = 200
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst *tcpip.FullAddress
			if i == 0 {
				dst = to(addrB, 53)
			}
			for range perWriter {
				if _, err := c.Write([]byte("concurrent"), tcpip.WriteOptions{To: dst}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(2)
	received := 0
	go func() {
		defer readers.Done()
		buf := make([]byte, 100)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := srv.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true}); err == nil {
				received++
			}
		}
	}()
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			srv.SetSockOpt(tcpip.ReceiveTOSOption(true))
			srv.Readiness(tcpip.EventsAll)
			var q tcpip.ReceiveQueueSizeOption
			srv.GetSockOpt(&q)
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for pumping := true; pumping; {
		select {
		case <-done:
			pumping = false
		default:
		}
		e.hub.Pump()
	}
	e.hub.Pump()
	close(stop)
	readers.Wait()
	buf := make([]byte, 100)
	for {
		if _, err := srv.Read(buf, tcpip.ReadOptions{}); err != nil {
			break
		}
		received++
	}
	dropped := srv.Stats().ReceiveBufferErrors.Load()
	if uint64(received)+dropped != 2*perWriter {
		t.Fatalf("received %d + dropped %d != sent %d", received, dropped, 2*perWriter)
	}

	// Close while datagrams arrive and a reader reads.
	var cw sync.WaitGroup
	cw.Add(2)
	go func() {
		defer cw.Done()
		for range 50 {
			clients[1].Write([]byte("late"), tcpip.WriteOptions{})
		}
	}()
	go func() {
		defer cw.Done()
		for range 50 {
			srv.Read(buf, tcpip.ReadOptions{})
		}
	}()
	e.hub.Pump()
	srv.Close()
	cw.Wait()
	e.hub.Pump()
}
