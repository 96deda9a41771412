package gonet_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/transport/tcp"
)

// TestTCPBulkGRO sends 4 MiB over a pipe, whose checksum offload lets the
// receiving NIC coalesce the segments of each batch (GRO): the data
// arrives whole and in order, TCP sees fewer segments than the link
// delivered, and the transfer is not slowed by delayed ACKs (a coalesced
// segment counts as the segments it holds).
func TestTCPBulkGRO(t *testing.T) {
	leakcheck.Check(t)
	linkA, linkB := pipe.New(pipe.Config{QueueSize: 4096})
	a := streamHost(t, linkA, addrA, tcp.NewProtocol)
	b := streamHost(t, linkB, addrB, tcp.NewProtocol)
	const size = 4 << 20
	data := make([]byte, size)
	rand.Read(data)
	l := tcpListen(t, b, 7)
	got := make(chan []byte, 1)
	serveTCP(t, l, func(c *gonet.TCPConn) {
		d, _ := io.ReadAll(c)
		got <- d
	})
	c := tcpDial(t, a, netip.AddrPortFrom(addrB, 7))
	c.SetDeadline(time.Now().Add(time.Minute))
	if n, err := c.Write(data); n != size || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	c.Close()
	if d := <-got; !bytes.Equal(d, data) {
		t.Fatalf("received %d bytes, differing from the %d sent", len(d), size)
	}
	rx := b.NICInfo()[1].Stats.RxPackets.Load()
	segs := b.Stats().TCP.SegmentsReceived.Load()
	t.Logf("NIC received %d segments, TCP processed %d", rx, segs)
	if segs*2 > rx {
		t.Errorf("TCP processed %d segments of %d received: GRO did not coalesce", segs, rx)
	}
}
