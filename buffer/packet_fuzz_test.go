package buffer

import (
	"bytes"
	"testing"
)

// FuzzPacketConsume checks consuming headers (in place or copied) against
// a model: ops is a program of steps over a frame built from up to three
// chunks, some of whose payloads are cloned (a sniffer's copy, a socket's
// queue); consumed headers are written to, and every clone must keep its
// bytes, and the packet its headers and payload.
func FuzzPacketConsume(f *testing.F) {
	f.Add([]byte{60, 40, 100, 0, 14, 1, 20, 3, 32, 2, 1, 5})
	f.Add([]byte{14, 0, 0, 2, 14, 4, 20, 0, 200})
	f.Add([]byte{255, 255, 255, 1, 60, 1, 60, 1, 60, 5, 4, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 3 {
			return
		}
		var frame []byte
		p := NewPacket(0, nil)
		for i := range 3 {
			part := pattern(byte(i+1), int(ops[i])+1)
			var b Buffer
			b.Append(part)
			p.Payload.Merge(&b)
			frame = append(frame, part...)
		}
		ops = ops[3:]
		type clone struct {
			b    Buffer
			want []byte
		}
		var clones []*clone
		var hdrs []byte // the model of p.Headers()
		off := 0        // bytes of frame consumed
		for len(ops) >= 2 {
			op, arg := ops[0]%6, int(ops[1])
			ops = ops[2:]
			switch op {
			case 0, 1, 2: // consume arg bytes, as some layer's header
				b, ok := p.ConsumeHeader(Layer(op), arg)
				if ok != (arg <= len(frame)-off) {
					t.Fatalf("ConsumeHeader(%d) ok=%v with %d left", arg, ok, len(frame)-off)
				}
				if !ok {
					continue
				}
				if !bytes.Equal(b, frame[off:off+arg]) {
					t.Fatal("consumed bytes differ")
				}
				hdrs = append(hdrs, b...)
				off += arg
			case 3: // clone the rest of the payload
				c := &clone{b: p.Payload.Clone(), want: bytes.Clone(frame[off:])}
				clones = append(clones, c)
			case 4: // write every header byte
				h := p.Headers()
				for i := range h {
					h[i] ^= byte(arg)
					hdrs[i] ^= byte(arg)
				}
			case 5: // trim headers and prepend as a forwarder does
				n := min(arg, p.HeaderLen())
				p.TrimHeaders(n)
				hdrs = hdrs[n:]
				b := p.Prepend(n)
				for i := range b {
					b[i] = byte(arg)
				}
				hdrs = append(bytes.Repeat([]byte{byte(arg)}, n), hdrs...)
			}
			if !bytes.Equal(p.Headers(), hdrs) {
				t.Fatalf("headers %x, want %x", p.Headers(), hdrs)
			}
			if !p.Payload.EqualBytes(frame[off:]) {
				t.Fatal("payload changed")
			}
			for _, c := range clones {
				if !c.b.EqualBytes(c.want) {
					t.Fatal("a clone of the payload changed")
				}
			}
		}
		for _, c := range clones {
			c.b.Release()
		}
		p.Release()
	})
}
