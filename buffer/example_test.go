package buffer_test

import (
	"fmt"

	"github.com/ustack-go/ustack/buffer"
)

// A send queue cut into segments: the segment in flight and the queue
// kept for retransmission share the bytes, and each is released on its
// own.
func ExampleBuffer() {
	var queue buffer.Buffer
	queue.Append([]byte("hello, "))
	queue.Append([]byte("world"))

	// Send the first 5 bytes: clone them out of the queue, which keeps
	// them until they are acknowledged.
	seg := queue.CloneRange(0, 5)
	pkt := buffer.NewPacket(20, &seg)
	copy(pkt.PrependHeader(buffer.TransportLayer, 4), "HDR:")
	fmt.Printf("on the wire: %q\n", pkt.AppendTo(nil))
	pkt.Release() // the link is done with it

	// The peer acknowledges 7 bytes.
	queue.TrimFront(7)
	fmt.Printf("unacknowledged: %q\n", queue.Flatten())

	// Split takes the front of a Buffer without copying.
	front := queue.Split(3)
	fmt.Printf("front %q, rest %q\n", front.Flatten(), queue.Flatten())
	front.Release()
	queue.Release()
	// Output:
	// on the wire: "HDR:hello"
	// unacknowledged: "world"
	// front "wor", rest "ld"
}

// An inbound frame: each layer consumes its header from the payload, and
// what is left is the transport payload.
func ExamplePacket_ConsumeHeader() {
	frame := []byte("ETHERNETHDR|IPHDR|UDP|payload")
	pkt := buffer.NewPacketFromBytes(0, frame)
	defer pkt.Release()

	pkt.ConsumeHeader(buffer.LinkLayer, 12)
	pkt.ConsumeHeader(buffer.NetworkLayer, 6)
	pkt.ConsumeHeader(buffer.TransportLayer, 4)
	fmt.Printf("%q %q %q %q\n", pkt.LinkHeader(), pkt.NetworkHeader(), pkt.TransportHeader(), pkt.Payload.Flatten())
	// Output:
	// "ETHERNETHDR|" "IPHDR|" "UDP|" "payload"
}
