package header

import (
	"encoding/binary"

	"github.com/ustack-go/ustack/seqnum"
)

// TCPOptionKind is the kind byte of a TCP option (IANA "TCP Option Kind
// Numbers").
type TCPOptionKind uint8

// TCP option kinds ustack knows.
const (
	// TCPOptionEOL ends the option list (RFC 9293 §3.2).
	TCPOptionEOL TCPOptionKind = 0
	// TCPOptionNOP is a one-byte filler used to align options (RFC 9293
	// §3.2).
	TCPOptionNOP TCPOptionKind = 1
	// TCPOptionMSS is the Maximum Segment Size (RFC 9293 §3.2, §3.7.1).
	TCPOptionMSS TCPOptionKind = 2
	// TCPOptionWindowScale is the Window Scale option (RFC 7323 §2.2).
	TCPOptionWindowScale TCPOptionKind = 3
	// TCPOptionSACKPermitted is the SACK-Permitted option (RFC 2018 §2).
	TCPOptionSACKPermitted TCPOptionKind = 4
	// TCPOptionSACK carries selective acknowledgment blocks (RFC 2018 §3).
	TCPOptionSACK TCPOptionKind = 5
	// TCPOptionTimestamps is the Timestamps option (RFC 7323 §3.2).
	TCPOptionTimestamps TCPOptionKind = 8
)

// Lengths of the TCP options of fixed size, kind and length bytes included.
const (
	TCPOptionMSSLength           = 4
	TCPOptionWindowScaleLength   = 3
	TCPOptionSACKPermittedLength = 2
	TCPOptionTimestampsLength    = 10
)

const (
	// TCPMaxSACKBlocks is the most SACK blocks an option can carry: a
	// SACK option of n blocks is 2+8n bytes and options have 40 bytes
	// (RFC 2018 §3).
	TCPMaxSACKBlocks = 4
	// TCPMaxWindowScale is the largest shift a window scale may have
	// (RFC 7323 §2.3). Larger received values are reported as they are;
	// the receiver must use 14 instead.
	TCPMaxWindowScale = 14
)

const (
	tcpOptSACKBlockSize = 8
	// tcpOptSACKHeader is the kind and length bytes of a SACK option.
	tcpOptSACKHeader = 2
)

// SACKBlock is one block of a SACK option (RFC 2018 §3): the sequence
// numbers from Start (the left edge, the first received) up to but not
// including End (the right edge). Parsing reports the edges as sent; a
// D-SACK block (RFC 2883 §4) or a bogus one, whose End is not after Start or
// which lies below the cumulative ACK, is the TCP engine's to judge.
type SACKBlock struct {
	Start seqnum.Value
	End   seqnum.Value
}

// TCPOption is one option yielded by a TCPOptionIterator: its kind and its
// data, the bytes after the kind and length bytes (sharing the segment's
// bytes). The iterator has checked the length of the kinds it knows, so
// the typed accessors below read the right bytes; called on an option of
// another kind or a hand-built one of the wrong length they return zeros.
type TCPOption struct {
	Kind TCPOptionKind
	Data []byte
}

// MSS returns the maximum segment size of a TCPOptionMSS option.
func (o TCPOption) MSS() uint16 {
	if o.Kind != TCPOptionMSS || len(o.Data) != TCPOptionMSSLength-2 {
		return 0
	}
	return binary.BigEndian.Uint16(o.Data)
}

// WindowScale returns the shift count of a TCPOptionWindowScale option, as
// sent, even if it is above TCPMaxWindowScale.
func (o TCPOption) WindowScale() uint8 {
	if o.Kind != TCPOptionWindowScale || len(o.Data) != TCPOptionWindowScaleLength-2 {
		return 0
	}
	return o.Data[0]
}

// Timestamps returns TSval and TSecr of a TCPOptionTimestamps option.
func (o TCPOption) Timestamps() (tsVal, tsEcr uint32) {
	if o.Kind != TCPOptionTimestamps || len(o.Data) != TCPOptionTimestampsLength-2 {
		return 0, 0
	}
	return binary.BigEndian.Uint32(o.Data), binary.BigEndian.Uint32(o.Data[4:])
}

// NumSACKBlocks returns the number of blocks of a TCPOptionSACK option.
func (o TCPOption) NumSACKBlocks() int {
	if o.Kind != TCPOptionSACK {
		return 0
	}
	return min(len(o.Data)/tcpOptSACKBlockSize, TCPMaxSACKBlocks)
}

// SACKBlock returns block i of a TCPOptionSACK option, 0 ≤ i <
// NumSACKBlocks(); other indexes give a zero block.
func (o TCPOption) SACKBlock(i int) SACKBlock {
	if i < 0 || i >= o.NumSACKBlocks() {
		return SACKBlock{}
	}
	d := o.Data[i*tcpOptSACKBlockSize:]
	return SACKBlock{
		Start: seqnum.Value(binary.BigEndian.Uint32(d)),
		End:   seqnum.Value(binary.BigEndian.Uint32(d[4:])),
	}
}

// TCPOptionIterator walks the options area of a TCP header. Next skips NOP
// bytes and stops at EOL or at the end of the area; every other option,
// known or not, is yielded with its data (RFC 9293 §3.2, MUST-6: options a
// receiver does not implement are stepped over by their length and
// ignored). A malformed option stops the iteration with ErrBadOption. The
// zero value iterates an empty area.
type TCPOptionIterator struct {
	opts []byte // not yet walked
	err  error
}

// NewTCPOptionIterator returns an iterator over opts, the options area of
// a TCP header (TCP.Options).
func NewTCPOptionIterator(opts []byte) TCPOptionIterator {
	return TCPOptionIterator{opts: opts}
}

// OptionIterator returns an iterator over the header's options.
func (b TCP) OptionIterator() TCPOptionIterator { return NewTCPOptionIterator(b.Options()) }

// Next returns the next option, or false at the end of the options or on a
// malformed option (then Err is ErrBadOption).
func (it *TCPOptionIterator) Next() (TCPOption, bool) {
	for len(it.opts) > 0 {
		kind := TCPOptionKind(it.opts[0])
		switch kind {
		case TCPOptionEOL:
			// RFC 9293 §3.2: EOL marks the end of all options;
			// what follows up to the data offset is padding.
			it.opts = nil
			return TCPOption{}, false
		case TCPOptionNOP:
			it.opts = it.opts[1:]
			continue
		}
		// RFC 9293 §3.2: every other option has a length byte that
		// counts the kind and length bytes; MUST-7 asks receivers to
		// cope with an illegal length (such as zero) rather than loop.
		if len(it.opts) < 2 {
			return it.tcpOptFail()
		}
		n := int(it.opts[1])
		if n < 2 || n > len(it.opts) || !tcpOptLengthValid(kind, n) {
			return it.tcpOptFail()
		}
		o := TCPOption{Kind: kind, Data: it.opts[2:n:n]}
		it.opts = it.opts[n:]
		return o, true
	}
	return TCPOption{}, false
}

// Err returns ErrBadOption if the iteration stopped at a malformed option,
// and nil otherwise.
func (it *TCPOptionIterator) Err() error { return it.err }

func (it *TCPOptionIterator) tcpOptFail() (TCPOption, bool) {
	it.opts = nil
	it.err = ErrBadOption
	return TCPOption{}, false
}

// tcpOptLengthValid reports whether n is a valid total length for an
// option of the given kind; lengths of unknown kinds are not checked.
func tcpOptLengthValid(kind TCPOptionKind, n int) bool {
	switch kind {
	case TCPOptionMSS:
		return n == TCPOptionMSSLength
	case TCPOptionWindowScale:
		return n == TCPOptionWindowScaleLength
	case TCPOptionSACKPermitted:
		return n == TCPOptionSACKPermittedLength
	case TCPOptionTimestamps:
		return n == TCPOptionTimestampsLength
	case TCPOptionSACK:
		// RFC 2018 §3: 2+8n bytes for n blocks, and at most 4 fit.
		blocks := (n - tcpOptSACKHeader) / tcpOptSACKBlockSize
		return (n-tcpOptSACKHeader)%tcpOptSACKBlockSize == 0 && blocks >= 1 && blocks <= TCPMaxSACKBlocks
	}
	return true
}

// TCPOptions is the decoded form of the options ustack uses, as the TCP
// engine consumes them for each segment. The zero value has no options.
// When an option appears more than once, the last one counts, as in Linux.
type TCPOptions struct {
	// HasMSS reports a TCPOptionMSS option, with its value in MSS.
	HasMSS bool
	MSS    uint16
	// HasWindowScale reports a TCPOptionWindowScale option, with its
	// shift in WindowScale as sent (RFC 7323 §2.3: a receiver uses 14
	// for anything larger; that clamping is the engine's).
	HasWindowScale bool
	WindowScale    uint8
	// SACKPermitted reports a TCPOptionSACKPermitted option.
	SACKPermitted bool
	// HasTimestamps reports a TCPOptionTimestamps option, with its
	// values in TSVal and TSEcr (RFC 7323 §3.2).
	HasTimestamps bool
	TSVal         uint32
	TSEcr         uint32
	// NumSACKBlocks is the number of blocks of a TCPOptionSACK option
	// (0 if there was none), held in the first NumSACKBlocks entries of
	// SACKBlocks in the order sent.
	NumSACKBlocks int
	SACKBlocks    [TCPMaxSACKBlocks]SACKBlock
}

// ParseTCPOptions decodes the options area opts (TCP.Options) into a
// TCPOptions, ignoring option kinds it does not know. On a malformed
// option it returns ErrBadOption together with the options decoded before
// it, so that a caller can act as Linux does (use what came before and
// ignore the rest) or drop the segment (RFC 9293 §3.2, MUST-7). It does
// not check that an option is allowed in the segment it came in (MSS,
// window scale and SACK-permitted belong to SYNs); that is the engine's
// job.
func ParseTCPOptions(opts []byte) (TCPOptions, error) {
	var o TCPOptions
	it := NewTCPOptionIterator(opts)
	for {
		opt, ok := it.Next()
		if !ok {
			break
		}
		switch opt.Kind {
		case TCPOptionMSS:
			o.HasMSS, o.MSS = true, opt.MSS()
		case TCPOptionWindowScale:
			o.HasWindowScale, o.WindowScale = true, opt.WindowScale()
		case TCPOptionSACKPermitted:
			o.SACKPermitted = true
		case TCPOptionTimestamps:
			o.HasTimestamps = true
			o.TSVal, o.TSEcr = opt.Timestamps()
		case TCPOptionSACK:
			o.NumSACKBlocks = opt.NumSACKBlocks()
			for i := range o.NumSACKBlocks {
				o.SACKBlocks[i] = opt.SACKBlock(i)
			}
		}
	}
	return o, it.Err()
}

// SACK returns the SACK blocks held in o.
func (o *TCPOptions) SACK() []SACKBlock {
	return o.SACKBlocks[:min(max(o.NumSACKBlocks, 0), TCPMaxSACKBlocks)]
}

// Size returns the number of bytes Encode writes.
func (o *TCPOptions) Size() int {
	n := 0
	if o.HasMSS {
		n += TCPOptionMSSLength
	}
	switch {
	case o.HasTimestamps:
		n += 12 // SACK-permitted, if present, shares the word of NOPs
	case o.SACKPermitted:
		n += 4
	}
	if o.HasWindowScale {
		n += 4
	}
	if k := tcpOptSACKFit(TCPMaximumOptionsSize-n, len(o.SACK())); k > 0 {
		n += 4 + k*tcpOptSACKBlockSize
	}
	return n
}

// Encode writes o at the start of b in the layout Linux uses (see
// TCPOptionsBuilder) and returns the bytes written, a multiple of 4 long:
// MSS, SACK-permitted, timestamps, window scale, then as many SACK blocks
// as fit in the 40 bytes. b must hold at least Size bytes.
func (o *TCPOptions) Encode(b []byte) []byte {
	ob := NewTCPOptionsBuilder(b)
	if o.HasMSS {
		ob.AddMSS(o.MSS)
	}
	if o.SACKPermitted {
		ob.AddSACKPermitted()
	}
	if o.HasTimestamps {
		ob.AddTimestamps(o.TSVal, o.TSEcr)
	}
	if o.HasWindowScale {
		ob.AddWindowScale(o.WindowScale)
	}
	if len(o.SACK()) > 0 {
		ob.AddSACKBlocks(o.SACK())
	}
	return ob.Bytes()
}

// TCPOptionsBuilder writes TCP options into a caller's buffer, each
// aligned on a 32-bit word with NOPs the way Linux lays them out
// (tcp_options_write), so that every Add writes a multiple of 4 bytes and
// the result needs no padding:
//
//	MSS              kind 2 len 4 (4 bytes)
//	SACK-permitted   NOP NOP, kind 4 len 2 (4 bytes)
//	timestamps       NOP NOP, kind 8 len 10 (12 bytes); right after
//	                 SACK-permitted, the two share a word instead of the
//	                 NOPs: kind 4 len 2, kind 8 len 10 (12 bytes in all)
//	window scale     NOP, kind 3 len 3 (4 bytes)
//	SACK blocks      NOP NOP, kind 5 len 2+8n (4+8n bytes)
//
// A SYN that adds MSS, SACK-permitted, timestamps and window scale in that
// order gets Linux's 20-byte layout. The builder never allocates; adding
// more than fits in the buffer or in the 40 bytes of a TCP header is a
// programming error and panics, except for AddSACKBlocks, which adds only
// what fits.
type TCPOptionsBuilder struct {
	buf []byte
	n   int
	// sackPermLast: the last 4 bytes written are AddSACKPermitted's.
	sackPermLast bool
}

// NewTCPOptionsBuilder returns a builder writing at the start of buf; it
// uses at most min(len(buf), TCPMaximumOptionsSize) bytes.
func NewTCPOptionsBuilder(buf []byte) TCPOptionsBuilder {
	return TCPOptionsBuilder{buf: buf[:min(len(buf), TCPMaximumOptionsSize)]}
}

// Bytes returns the options written so far, sharing the builder's buffer.
func (ob *TCPOptionsBuilder) Bytes() []byte { return ob.buf[:ob.n] }

// Len returns the number of bytes written so far.
func (ob *TCPOptionsBuilder) Len() int { return ob.n }

// tcpOptReserve returns the next n bytes of the buffer and counts them as
// written.
func (ob *TCPOptionsBuilder) tcpOptReserve(n int) []byte {
	if ob.n+n > len(ob.buf) {
		panic("header: TCP options do not fit in the builder's buffer")
	}
	b := ob.buf[ob.n : ob.n+n]
	ob.n += n
	ob.sackPermLast = false
	return b
}

// AddMSS adds a Maximum Segment Size option (RFC 9293 §3.7.1).
func (ob *TCPOptionsBuilder) AddMSS(mss uint16) {
	b := ob.tcpOptReserve(4)
	b[0], b[1] = byte(TCPOptionMSS), TCPOptionMSSLength
	binary.BigEndian.PutUint16(b[2:], mss)
}

// AddWindowScale adds a Window Scale option (RFC 7323 §2.2) after a NOP.
// The shift is written as given; RFC 7323 §2.3 limits it to
// TCPMaxWindowScale.
func (ob *TCPOptionsBuilder) AddWindowScale(shift uint8) {
	b := ob.tcpOptReserve(4)
	b[0], b[1], b[2], b[3] = byte(TCPOptionNOP), byte(TCPOptionWindowScale), TCPOptionWindowScaleLength, shift
}

// AddSACKPermitted adds a SACK-Permitted option (RFC 2018 §2) after two
// NOPs.
func (ob *TCPOptionsBuilder) AddSACKPermitted() {
	b := ob.tcpOptReserve(4)
	b[0], b[1], b[2], b[3] = byte(TCPOptionNOP), byte(TCPOptionNOP), byte(TCPOptionSACKPermitted), TCPOptionSACKPermittedLength
	ob.sackPermLast = true
}

// AddTimestamps adds a Timestamps option (RFC 7323 §3.2) after two NOPs,
// or, if the last thing added was SACK-permitted, in place of that
// option's NOPs.
func (ob *TCPOptionsBuilder) AddTimestamps(tsVal, tsEcr uint32) {
	var b []byte
	if ob.sackPermLast {
		// Linux's layout: SACK-permitted takes the place of the
		// timestamps' NOPs, saving a word.
		ob.n -= 4
		b = ob.tcpOptReserve(12)
		b[0], b[1] = byte(TCPOptionSACKPermitted), TCPOptionSACKPermittedLength
	} else {
		b = ob.tcpOptReserve(12)
		b[0], b[1] = byte(TCPOptionNOP), byte(TCPOptionNOP)
	}
	b[2], b[3] = byte(TCPOptionTimestamps), TCPOptionTimestampsLength
	binary.BigEndian.PutUint32(b[4:], tsVal)
	binary.BigEndian.PutUint32(b[8:], tsEcr)
}

// AddSACKBlocks adds a SACK option (RFC 2018 §3) after two NOPs, with as
// many of blocks, from the first, as fit in the space left (at most 4;
// 3 after timestamps), and returns how many it added. It adds nothing if
// blocks is empty or not even one block fits. RFC 2018 §4 asks that the
// first block be the one holding the most recently received segment, and
// RFC 2883 §4 puts a D-SACK block first: order blocks accordingly.
func (ob *TCPOptionsBuilder) AddSACKBlocks(blocks []SACKBlock) int {
	k := tcpOptSACKFit(len(ob.buf)-ob.n, len(blocks))
	if k == 0 {
		return 0
	}
	n := tcpOptSACKHeader + k*tcpOptSACKBlockSize
	b := ob.tcpOptReserve(2 + n)
	b[0], b[1], b[2], b[3] = byte(TCPOptionNOP), byte(TCPOptionNOP), byte(TCPOptionSACK), byte(n)
	for i, blk := range blocks[:k] {
		d := b[4+i*tcpOptSACKBlockSize:]
		binary.BigEndian.PutUint32(d, uint32(blk.Start))
		binary.BigEndian.PutUint32(d[4:], uint32(blk.End))
	}
	return k
}

// tcpOptSACKFit returns how many of want SACK blocks fit, with two NOPs and
// the kind and length bytes, in room bytes.
func tcpOptSACKFit(room, want int) int {
	return max(0, min(want, TCPMaxSACKBlocks, (room-4)/tcpOptSACKBlockSize))
}
