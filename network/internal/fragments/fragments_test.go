package fragments_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/network/internal/fragments"
	"github.com/ustack-go/ustack/tcpip"
)

// engine returns a Reassembler on a manual clock that records timeouts.
func engine(t *testing.T, poison bool) (*fragments.Reassembler[int], *tcpip.ManualClock, *tcpip.IPStats, *[]any) {
	t.Helper()
	buffer.SetCounting(true)
	before := buffer.ReadStats()
	clock := tcpip.NewManualClock()
	stats := &tcpip.IPStats{}
	var timeouts []any
	r := fragments.New[int](fragments.Options{
		Clock:          clock,
		Stats:          stats,
		PoisonOverlaps: poison,
		OnTimeout: func(owner any, first fragments.Piece) {
			if first.Off != 0 {
				t.Errorf("timeout reported with the piece at %d", first.Off)
			}
			timeouts = append(timeouts, owner)
		},
	}, fragments.Config{Timeout: time.Minute, MemoryLimit: 1 << 20, MaxFragments: 4})
	t.Cleanup(func() {
		r.Close()
		if p := clock.Pending(); p != 0 {
			t.Errorf("%d timers pending after Close", p)
		}
		if after := buffer.ReadStats(); after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
			t.Errorf("buffers leaked")
		}
	})
	return r, clock, stats, &timeouts
}

func piece(data []byte) *buffer.Packet { return buffer.NewPacketFromBytes(0, data) }

// join returns the data of pieces in order and releases them.
func join(pieces []fragments.Piece) []byte {
	var b []byte
	for _, p := range pieces {
		b = append(b, p.Pkt.Payload.Flatten()...)
	}
	fragments.Release(pieces)
	return b
}

func TestInOrderAndOutOfOrder(t *testing.T) {
	r, _, stats, _ := engine(t, false)
	data := []byte("0123456789abcdefghijklmnopqrstuv")
	if _, ok := r.Add(1, 16, false, piece(data[16:]), nil); ok {
		t.Fatal("complete with the last piece only")
	}
	if _, ok := r.Add(1, 0, true, piece(data[:8]), "first"); ok {
		t.Fatal("complete with a hole")
	}
	pieces, ok := r.Add(1, 8, true, piece(data[8:16]), nil)
	if !ok || !bytes.Equal(join(pieces), data) {
		t.Fatal("not reassembled")
	}
	if stats.PacketsReassembled.Load() != 1 {
		t.Error("not counted")
	}
}

func TestDuplicateOverlapAndPoison(t *testing.T) {
	for _, poison := range []bool{false, true} {
		r, clock, stats, _ := engine(t, poison)
		r.Add(1, 0, true, piece(make([]byte, 8)), nil)
		r.Add(1, 0, true, piece(make([]byte, 8)), nil)
		if stats.ReassemblyDuplicates.Load() != 1 {
			t.Errorf("duplicates %d", stats.ReassemblyDuplicates.Load())
		}
		r.Add(1, 4, true, piece(make([]byte, 8)), nil)
		if stats.ReassemblyOverlaps.Load() != 1 {
			t.Errorf("overlaps %d", stats.ReassemblyOverlaps.Load())
		}
		// After the overlap: a poisoned datagram drops what comes.
		r.Add(1, 0, true, piece(make([]byte, 8)), nil)
		pieces, ok := r.Add(1, 8, false, piece(make([]byte, 8)), nil)
		if ok == poison {
			t.Errorf("poison %v: complete %v", poison, ok)
		}
		if ok {
			fragments.Release(pieces)
			continue
		}
		clock.Advance(time.Minute)
		r.Add(1, 0, true, piece(make([]byte, 8)), nil)
		if pieces, ok := r.Add(1, 8, false, piece(make([]byte, 8)), nil); !ok {
			t.Error("still poisoned after the timeout")
		} else {
			fragments.Release(pieces)
		}
	}
}

func TestLimitsAndTimeout(t *testing.T) {
	r, clock, stats, timeouts := engine(t, false)
	for i := range 5 {
		r.Add(1, i*8, true, piece(make([]byte, 8)), nil)
	}
	if stats.ReassemblyTooManyFrags.Load() != 1 {
		t.Errorf("too many fragments %d", stats.ReassemblyTooManyFrags.Load())
	}
	r.Add(2, 8, false, piece(make([]byte, 8)), nil)
	r.Add(2, 8, false, piece(make([]byte, 16)), nil) // disagrees on the length
	if stats.ReassemblyMalformed.Load() != 1 {
		t.Errorf("malformed %d", stats.ReassemblyMalformed.Load())
	}
	r.Add(3, 0, true, piece(make([]byte, 8)), "owner")
	r.Add(4, 8, true, piece(make([]byte, 8)), "not first")
	clock.Advance(time.Minute)
	if stats.ReassemblyTimeouts.Load() != 2 || len(*timeouts) != 1 || (*timeouts)[0] != "owner" {
		t.Errorf("timeouts %d, reported %v", stats.ReassemblyTimeouts.Load(), *timeouts)
	}
	r.SetConfig(fragments.Config{Timeout: time.Minute, MemoryLimit: 1000, MaxFragments: 4})
	for i := range 10 {
		r.Add(10+i, 0, true, piece(make([]byte, 8)), nil)
	}
	if stats.ReassemblyMemoryLimit.Load() == 0 {
		t.Error("memory limit not enforced")
	}
	if r.Config().MemoryLimit != 1000 {
		t.Error("config not kept")
	}
}
