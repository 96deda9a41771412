package pipe_test

import (
	"fmt"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/tcpip"
)

// printer is a dispatcher that prints what arrives and signals done.
type printer chan struct{}

func (p printer) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	fmt.Printf("got %v packet %q\n", proto, pkt.Payload.Flatten())
	pkt.Release()
	p <- struct{}{}
}

// A pipe of IP packets: what one end writes arrives at the other, in the
// inbound form, from the other end's delivery goroutine.
func ExampleNew() {
	a, b := pipe.New(pipe.Config{L3: true})
	defer a.Close()
	defer b.Close()
	done := make(printer)
	b.Attach(done)

	pkt := buffer.NewPacket(20, nil)
	pkt.Payload.Append([]byte("payload"))
	copy(pkt.PrependHeader(buffer.NetworkLayer, 4), "\x45hdr") // version nibble 4
	a.WritePackets([]*buffer.Packet{pkt})
	<-done
	// Output:
	// got IPv4 packet "Ehdrpayload"
}
