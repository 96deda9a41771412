package pktqueue

import (
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

func TestRing(t *testing.T) {
	r := NewRing(3)
	if r.Cap() != 3 || r.Len() != 0 || r.Full() {
		t.Fatalf("new ring: cap %d len %d", r.Cap(), r.Len())
	}
	if _, ok := r.Pop(); ok {
		t.Fatal("Pop of an empty ring")
	}
	next, want := 0, 0
	// Push and pop around the ring several times.
	for round := range 10 {
		for !r.Full() {
			if !r.Push(Item{Proto: tcpip.NetworkProtocolNumber(next)}) {
				t.Fatal("Push failed on a ring with room")
			}
			next++
		}
		if r.Push(Item{}) {
			t.Fatal("Push succeeded on a full ring")
		}
		for range 1 + round%3 {
			it, ok := r.Pop()
			if !ok || int(it.Proto) != want {
				t.Fatalf("Pop = %v, %v; want %d", it.Proto, ok, want)
			}
			want++
		}
	}
	for r.Len() > 0 {
		r.Pop()
	}
	r.Push(Item{Pkt: buffer.NewPacket(0, nil)})
	r.Push(Item{Pkt: buffer.NewPacket(0, nil)})
	if n := r.ReleaseAll(); n != 2 || r.Len() != 0 {
		t.Errorf("ReleaseAll = %d, len %d", n, r.Len())
	}
	if r0 := NewRing(0); r0.Cap() != 1 {
		t.Error("NewRing(0) holds nothing")
	}
}
