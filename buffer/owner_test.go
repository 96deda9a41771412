package buffer_test

import (
	"testing"

	"github.com/ustack-go/ustack/buffer"
)

type countingOwner struct{ n, calls int }

func (o *countingOwner) PacketReleased(c int) { o.n += c; o.calls++ }

// TestOwnerPaidOnce moves a charge from one packet to another, as a link
// turning an outbound packet into an inbound one does: releasing the first
// pays nothing, orphaning the second pays once, releasing it afterwards
// pays nothing more, and a clone is not charged.
func TestOwnerPaidOnce(t *testing.T) {
	var o countingOwner
	p := buffer.NewPacketFromBytes(0, []byte("x"))
	p.SetOwner(&o, 10)
	c := p.Clone()
	c.Release()
	q := buffer.NewPacket(0, nil)
	q.TakeOwner(p)
	p.Release()
	if o.calls != 0 {
		t.Fatalf("paid %d in %d calls before the charged packet let go", o.n, o.calls)
	}
	q.Orphan()
	q.Release()
	if o.n != 10 || o.calls != 1 {
		t.Errorf("paid %d in %d calls, want 10 in 1", o.n, o.calls)
	}
	r := buffer.NewPacket(0, nil)
	r.SetOwner(&o, 5)
	r.Release()
	if o.n != 15 || o.calls != 2 {
		t.Errorf("Release paid %d in %d calls, want 15 in 2", o.n, o.calls)
	}
}

// TestOwnerCharge reports the charge of a packet with an owner and 0
// without one, after Orphan and on a clone.
func TestOwnerCharge(t *testing.T) {
	var o countingOwner
	p := buffer.NewPacketFromBytes(0, []byte("x"))
	defer p.Release()
	if got := p.OwnerCharge(); got != 0 {
		t.Errorf("OwnerCharge without an owner = %d, want 0", got)
	}
	p.SetOwner(&o, 7)
	if got := p.OwnerCharge(); got != 7 {
		t.Errorf("OwnerCharge = %d, want 7", got)
	}
	c := p.Clone()
	if got := c.OwnerCharge(); got != 0 {
		t.Errorf("OwnerCharge of a clone = %d, want 0", got)
	}
	c.Release()
	p.Orphan()
	if got := p.OwnerCharge(); got != 0 {
		t.Errorf("OwnerCharge after Orphan = %d, want 0", got)
	}
}
