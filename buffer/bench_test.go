package buffer

import (
	"testing"
)

const benchMSS = 1460

// benchSetup turns usage counting off for the benchmark, as in production.
func benchSetup(b *testing.B, bytes int) {
	SetCounting(false)
	b.Cleanup(func() { SetCounting(true) })
	b.ReportAllocs()
	b.SetBytes(int64(bytes))
}

// BenchmarkAppend64K appends 64 KiB in MSS-sized pieces, as a TCP send
// queue fills from user writes, then releases it.
func BenchmarkAppend64K(b *testing.B) {
	seg := pattern(1, benchMSS)
	benchSetup(b, 64<<10)
	for b.Loop() {
		var buf Buffer
		for n := 0; n < 64<<10; n += benchMSS {
			buf.Append(seg[:min(benchMSS, 64<<10-n)])
		}
		buf.Release()
	}
}

// BenchmarkSplitSegments splits a 64 KiB payload into MSS-sized segments.
func BenchmarkSplitSegments(b *testing.B) {
	data := pattern(2, 64<<10)
	var src Buffer
	src.Append(data)
	defer src.Release()
	benchSetup(b, 64<<10)
	for b.Loop() {
		buf := src.Clone()
		for buf.Len() > 0 {
			seg := buf.Split(min(benchMSS, buf.Len()))
			seg.Release()
		}
	}
}

// BenchmarkCloneRelease clones and releases a 64 KiB payload of 1460-byte
// views (a retransmit queue handing a copy to a sniffer).
func BenchmarkCloneRelease(b *testing.B) {
	src, _ := multiChunk(3, 64<<10, benchMSS)
	defer src.Release()
	benchSetup(b, 64<<10)
	for b.Loop() {
		c := src.Clone()
		c.Release()
	}
}

// BenchmarkSendSegments is TCP's send path over a 64 KiB queue: each MSS
// segment is cloned out of the queue into a Packet, gets three headers
// and is released by the link.
func BenchmarkSendSegments(b *testing.B) {
	var q Buffer
	q.Append(pattern(4, 64<<10))
	defer q.Release()
	benchSetup(b, 64<<10)
	for b.Loop() {
		for off := 0; off < q.Len(); off += benchMSS {
			seg := q.CloneRange(off, min(benchMSS, q.Len()-off))
			p := NewPacket(64, &seg)
			p.PrependHeader(TransportLayer, 20)
			p.PrependHeader(NetworkLayer, 20)
			p.PrependHeader(LinkLayer, 14)
			p.Release()
		}
	}
}

// BenchmarkReceivePath is the inbound path of one full-sized frame: the
// link reads it into a Buffer, each layer consumes its header and TCP
// merges the payload into its receive queue.
func BenchmarkReceivePath(b *testing.B) {
	frame := pattern(5, 14+20+20+benchMSS)
	var rcv Buffer
	benchSetup(b, len(frame))
	for b.Loop() {
		var in Buffer
		copy(in.Extend(len(frame)), frame)
		p := NewPacket(0, &in)
		p.ConsumeHeader(LinkLayer, 14)
		p.ConsumeHeader(NetworkLayer, 20)
		p.ConsumeHeader(TransportLayer, 20)
		rcv.Merge(&p.Payload)
		p.Release()
		if rcv.Len() >= 64<<10 {
			rcv.Release()
		}
	}
	rcv.Release()
}

// BenchmarkPacketParallel measures pool contention: packets built and
// released on every P.
func BenchmarkPacketParallel(b *testing.B) {
	seg := pattern(6, benchMSS)
	benchSetup(b, benchMSS)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := NewPacketFromBytes(64, seg)
			p.PrependHeader(TransportLayer, 20)
			c := p.Clone()
			c.Release()
			p.Release()
		}
	})
}
