package tcp

import (
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
)

// The sender's use of SACK (RFC 2018 §5, in the spirit of RFC 6675's
// NextSeg rule 1): the ranges the peer reports holding form a scoreboard,
// and during fast recovery each duplicate or partial ACK retransmits the
// next hole below the highest SACKed byte, instead of one hole per round
// trip as NewReno alone would. Congestion control stays NewReno's
// (window inflation, RFC 6582); RFC 6675's pipe estimate is not used.

// seqRange is a range [start, end) of sequence numbers.
type seqRange struct {
	start, end seqnum.Value
}

// sackUpdateLocked records the SACK blocks of g that lie within
// SND.UNA..SND.MAX and above the cumulative ACK (D-SACK blocks, RFC 2883,
// below it are ignored).
func (e *endpoint) sackUpdateLocked(g *segment) {
	if !e.sackOK || g.opts.NumSACKBlocks == 0 {
		return
	}
	for _, b := range g.opts.SACK() {
		if !b.Start.LessThan(b.End) || b.Start.LessThan(g.ack) || b.Start.LessThan(e.sndUna) || b.End.GreaterThan(e.sndMax) {
			continue
		}
		e.sackAddLocked(b.Start, b.End)
	}
}

// sackAddLocked merges [s, t) into the sorted, disjoint scoreboard.
func (e *endpoint) sackAddLocked(s, t seqnum.Value) {
	i := 0
	for i < len(e.sacked) && e.sacked[i].end.LessThan(s) {
		i++
	}
	j := i
	for j < len(e.sacked) && !e.sacked[j].start.GreaterThan(t) {
		s = seqnum.Min(s, e.sacked[j].start)
		t = seqnum.Max(t, e.sacked[j].end)
		j++
	}
	if i == j {
		e.sacked = append(e.sacked, seqRange{})
		copy(e.sacked[i+1:], e.sacked[i:])
	} else if j > i+1 {
		e.sacked = append(e.sacked[:i+1], e.sacked[j:]...)
	}
	e.sacked[i] = seqRange{s, t}
}

// sackPruneLocked drops what SND.UNA passed.
func (e *endpoint) sackPruneLocked() {
	k := 0
	for k < len(e.sacked) && !e.sacked[k].end.GreaterThan(e.sndUna) {
		k++
	}
	if k > 0 {
		n := copy(e.sacked, e.sacked[k:])
		e.sacked = e.sacked[:n]
	}
	if len(e.sacked) > 0 && e.sacked[0].start.LessThan(e.sndUna) {
		e.sacked[0].start = e.sndUna
	}
}

// nextHoleLocked returns the first range not SACKed at or after from (and
// SND.UNA) that lies below the highest SACKed byte.
func (e *endpoint) nextHoleLocked(from seqnum.Value) (seqnum.Value, int, bool) {
	p := seqnum.Max(from, e.sndUna)
	for _, r := range e.sacked {
		if p.LessThan(r.start) {
			return p, int(p.Size(r.start)), true
		}
		if p.LessThan(r.end) {
			p = r.end
		}
	}
	return 0, 0, false
}

// sackRetransmitLocked retransmits the next hole after rexmitNext, if the
// scoreboard shows one, and reports whether it did.
func (e *endpoint) sackRetransmitLocked() bool {
	seq, n, ok := e.nextHoleLocked(e.rexmitNext)
	if !ok {
		return false
	}
	sent := e.retransmitAtLocked(seq, n)
	e.rexmitNext = seq.Add(seqnum.Size(max(sent, 1)))
	return sent > 0
}

// retransmitAtLocked resends at most limit bytes (and one MSS) from seq
// without moving SND.NXT, with the FIN if it follows them, and returns the
// data bytes sent.
func (e *endpoint) retransmitAtLocked(seq seqnum.Value, limit int) int {
	if seq.LessThan(e.bufSeq) {
		seq = e.bufSeq
	}
	off := int(e.bufSeq.Size(seq))
	avail := e.sndBuf.Len() - off
	n := min(max(avail, 0), e.sndMSS, limit)
	fin := n == avail && e.finQueued && e.sndMax.GreaterThan(e.finSeqLocked())
	if n <= 0 && !fin {
		return 0
	}
	flags := header.TCPFlagACK
	if fin {
		flags |= header.TCPFlagFIN
	}
	e.sendSegmentLocked(seq, e.rcvNxt, flags, off, max(n, 0), false)
	e.countRetransmitLocked()
	e.rtt.timing = false // Karn's rule
	return max(n, 0)
}
