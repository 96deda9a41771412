package buffer

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// The property test and the fuzz target run programs of Buffer operations
// on a few Buffers and check each against a plain []byte model.

const modelSlots = 4

// program decodes operations from bytes; past the end it reads zeros.
type program struct {
	b []byte
}

func (p *program) byte() byte {
	if len(p.b) == 0 {
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *program) done() bool { return len(p.b) == 0 }

// length decodes a length that is mostly small but reaches past chunk
// sizes: 0–191 as is, then multiples of 64 up to 4 KiB, then of 1 KiB up
// to about 70 KiB.
func (p *program) length() int {
	switch c := int(p.byte()); {
	case c < 192:
		return c
	case c < 248:
		return (c-192)*64 + int(p.byte())
	default:
		return (c-248)*10240 + int(p.byte())*40
	}
}

// upTo decodes a number in [0, n].
func (p *program) upTo(n int) int {
	v := int(p.byte())<<8 | int(p.byte())
	return v % (n + 1)
}

type model struct {
	t     testing.TB
	bufs  [modelSlots]Buffer
	want  [modelSlots][]byte
	log   []string
	seeds byte
}

func (m *model) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf(format, args...))
}

func (m *model) fail(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("%s\nafter operations:\n  %s", fmt.Sprintf(format, args...), strings.Join(m.log, "\n  "))
}

func (m *model) data(n int) []byte {
	m.seeds++
	return pattern(m.seeds*31, n)
}

// set replaces slot i by nb, releasing what it held.
func (m *model) set(i int, nb *Buffer, want []byte) {
	m.bufs[i].Release()
	m.bufs[i].Merge(nb)
	m.want[i] = want
}

const numModelOps = 18

// modelMaxLen bounds each slot, so that a long program stays fast.
const modelMaxLen = 300 << 10

// room returns n, or less if slot i would grow past modelMaxLen.
func (m *model) room(i, n int) int { return max(0, min(n, modelMaxLen-len(m.want[i]))) }

// stepSize is the number of program bytes per operation: the operation,
// two slots and the operation's arguments (unused argument bytes are
// skipped, so that a mutation of one operation leaves the others intact).
const stepSize = 8

// step decodes and runs one operation.
func (m *model) step(prog *program) {
	m.t.Helper()
	var rec [stepSize]byte
	for k := range rec {
		rec[k] = prog.byte()
	}
	p := &program{b: rec[1:]}
	op := int(rec[0]) % numModelOps
	i, j := int(p.byte())%modelSlots, int(p.byte())%modelSlots
	b, w := &m.bufs[i], m.want[i]
	switch op {
	case 0, 1: // Append (twice as likely: it is how data gets in)
		d := m.data(m.room(i, p.length()))
		m.logf("%d.Append(%d)", i, len(d))
		b.Append(d)
		m.want[i] = append(w, d...)
	case 2:
		n := m.room(i, p.length())
		m.logf("%d.Extend(%d)", i, n)
		d := m.data(n)
		copy(b.Extend(n), d)
		m.want[i] = append(w, d...)
	case 3:
		if i == j || len(w)+len(m.want[j]) > modelMaxLen {
			return
		}
		m.logf("%d.Merge(%d)", i, j)
		b.Merge(&m.bufs[j])
		m.want[i] = append(w, m.want[j]...)
		m.want[j] = nil
	case 4:
		m.logf("%d = %d.Clone()", j, i)
		c := b.Clone()
		m.set(j, &c, bytes.Clone(w))
	case 5:
		off := p.upTo(len(w))
		n := p.upTo(len(w) - off)
		m.logf("%d = %d.CloneRange(%d, %d)", j, i, off, n)
		c := b.CloneRange(off, n)
		m.set(j, &c, bytes.Clone(w[off:off+n]))
	case 6:
		if i == j {
			return
		}
		n := p.upTo(len(w))
		m.logf("%d = %d.Split(%d)", j, i, n)
		f := b.Split(n)
		m.want[i] = w[n:]
		m.set(j, &f, w[:n:n])
	case 7:
		n := p.upTo(len(w))
		m.logf("%d.TrimFront(%d)", i, n)
		b.TrimFront(n)
		m.want[i] = w[n:]
	case 8:
		n := p.upTo(len(w))
		m.logf("%d.Truncate(%d)", i, n)
		b.Truncate(n)
		m.want[i] = w[:n:n]
	case 9:
		n := p.upTo(len(w) + 1)
		m.logf("%d.PullUp(%d)", i, n)
		got, ok := b.PullUp(n)
		if ok != (n <= len(w)) || ok && !bytes.Equal(got, w[:n]) {
			m.fail("PullUp(%d) = %d bytes, %v", n, len(got), ok)
		}
	case 10:
		n := p.upTo(len(w))
		m.logf("%d.PullUpWritable(%d)", i, n)
		got, _ := b.PullUpWritable(n)
		if !bytes.Equal(got, w[:n]) {
			m.fail("PullUpWritable(%d) wrong bytes", n)
		}
		x := p.byte() | 1
		w = bytes.Clone(w)
		for k := range got {
			got[k] ^= x
			w[k] ^= x
		}
		m.want[i] = w
	case 11:
		n := p.length()
		m.logf("%d.Read(%d)", i, n)
		got := make([]byte, n)
		k, err := b.Read(got)
		if k != min(n, len(w)) || !bytes.Equal(got[:k], w[:k]) || (err == io.EOF) != (len(w) == 0 && n > 0) {
			m.fail("Read(%d) = %d, %v", n, k, err)
		}
		m.want[i] = w[k:]
	case 12:
		off, n := p.upTo(len(w)+1), p.length()
		m.logf("%d.ReadAt(%d, %d)", i, n, off)
		got := make([]byte, n)
		k, err := b.ReadAt(got, int64(off))
		wk := max(0, min(n, len(w)-off))
		if k != wk || k > 0 && !bytes.Equal(got[:k], w[off:off+k]) || (err == io.EOF) != (k < n) {
			m.fail("ReadAt(%d, %d) = %d, %v", n, off, k, err)
		}
	case 13:
		m.logf("%d.WriteTo", i)
		var out bytes.Buffer
		if k, err := b.WriteTo(&out); k != int64(len(w)) || err != nil || !bytes.Equal(out.Bytes(), w) {
			m.fail("WriteTo = %d, %v", k, err)
		}
		m.want[i] = nil
	case 14:
		m.logf("%d.Release()", i)
		b.Release()
		m.want[i] = nil
	case 15:
		m.logf("%d = %d.Take()", j, i)
		t := b.Take()
		m.want[i] = nil
		m.set(j, &t, w)
	case 17: // a piece in a chunk of its own: many-view buffers
		d := m.data(m.room(i, p.length()%100))
		m.logf("%d.Merge(piece %d)", i, len(d))
		var piece Buffer
		piece.Append(d)
		b.Merge(&piece)
		m.want[i] = append(w, d...)
	case 16:
		m.logf("%d.Equal(%d)", i, j)
		if got := b.Equal(&m.bufs[j]); got != bytes.Equal(w, m.want[j]) {
			m.fail("Equal = %v", got)
		}
		n := p.length()
		got := make([]byte, n)
		if k := b.CopyTo(got); k != min(n, len(w)) || !bytes.Equal(got[:k], w[:k]) {
			m.fail("CopyTo(%d) = %d", n, k)
		}
	}
}

// check compares every slot with its model.
func (m *model) check() {
	m.t.Helper()
	for i := range m.bufs {
		b := &m.bufs[i]
		if b.Len() != len(m.want[i]) || !b.EqualBytes(m.want[i]) {
			m.fail("slot %d holds %d bytes, want %d", i, b.Len(), len(m.want[i]))
		}
		checkInvariants(m.t, b)
	}
}

// runProgram interprets prog and checks that it releases everything.
func runProgram(t testing.TB, prog []byte) {
	t.Helper()
	before := ReadStats().ChunksInUse
	m := &model{t: t}
	p := &program{b: prog}
	for steps := 0; !p.done() && steps < 400; steps++ {
		m.step(p)
		m.check()
	}
	for i := range m.bufs {
		m.bufs[i].Release()
	}
	if after := ReadStats().ChunksInUse; after != before {
		m.fail("chunks in use %d before, %d after releasing everything", before, after)
	}
}

// TestModelRandom runs random programs with a fixed seed: half with
// uniformly random operations, half biased towards building long view
// lists and draining them as a queue (as TCP's queues do).
func TestModelRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	queueOps := []byte{17, 17, 17, 17, 0, 7, 6, 5, 9, 4}
	runs := 400
	if testing.Short() || raceEnabled {
		runs = 40
	}
	for r := range runs {
		prog := make([]byte, stepSize*(10+rng.IntN(300)))
		for i := range prog {
			prog[i] = byte(rng.Uint32())
		}
		if r%2 == 1 {
			for i := 0; i < len(prog); i += stepSize {
				prog[i] = queueOps[rng.IntN(len(queueOps))]
				prog[i+1] &= 1 // two slots, so that pieces pile up
				prog[i+2] &= 1
			}
		}
		runProgram(t, prog)
	}
}

// FuzzBufferOps interprets its input as a program of Buffer operations
// checked against the []byte model.
func FuzzBufferOps(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 200, 1, 6, 0, 1, 0, 100, 4, 1, 2, 7, 2, 0, 0, 10})
	f.Add([]byte{1, 1, 0, 255, 255, 0, 1, 0, 250, 3, 3, 1, 0, 9, 1, 0, 255, 255})
	f.Add([]byte{2, 2, 0, 247, 255, 4, 2, 3, 5, 3, 0, 0, 5, 0, 99, 10, 3, 0, 0, 40, 7})
	f.Fuzz(func(t *testing.T, prog []byte) {
		runProgram(t, prog)
	})
}
