package tcp

import (
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
)

// SYN cookies (RFC 4987 §3.6). When a listener's SYN queue is full, the
// SYN-ACK's ISN encodes what the connection needs and no state is kept:
//
//	bits 31–27  t, a counter of 64-second periods (mod 32)
//	bits 26–24  m, the index of the MSS in cookieMSS
//	bits 23–0   a keyed hash of the 4-tuple, the peer's ISN, t and m
//
// The ACK completing the handshake acknowledges ISN+1: the cookie is
// valid if t is the current or previous period and the hash matches.
// As Linux does, when the SYN carried timestamps the SYN-ACK's TSval
// carries the peer's window scale (low 4 bits, 0xf for none), SACK-permitted
// (bit 4) and the ECN agreement (bit 5), which the ACK echoes in TSecr;
// without timestamps the connection goes without window scaling, SACK
// and ECN.

// cookieMSS are the MSS values a cookie can encode (Linux's msstab).
var cookieMSS = [...]uint16{536, 1300, 1440, 1460}

const (
	cookiePeriod  = 64 * time.Second
	cookieTSBits  = 6
	cookieTSMask  = 1<<cookieTSBits - 1
	cookieNoScale = 0xf
	cookieSACK    = 0x10
	cookieECN     = 0x20 // the SYN-ACK offered ECN (RFC 3168 §6.1.1), as Linux's TS_OPT_ECN
)

func (e *endpoint) cookieCounter() uint32 {
	return uint32(e.s.Clock().NowMonotonic().Nanoseconds()/int64(cookiePeriod)) & 31
}

// cookieTSOffset is the timestamp offset of a cookie connection: derived
// from the 4-tuple, so that no state is needed to know it.
func (e *endpoint) cookieTSOffset(se *synEntry) uint32 {
	return e.p.hash4(se.id, 2, 0)
}

// sendCookieLocked answers g with a SYN-ACK whose ISN is a cookie.
func (e *endpoint) sendCookieLocked(g *segment, se *synEntry) {
	peerMSS := defaultMSSv4
	if g.opts.HasMSS {
		peerMSS = int(g.opts.MSS)
	}
	mss := min(peerMSS, se.advMSS)
	m := 0
	for i, v := range cookieMSS {
		if int(v) <= mss {
			m = i
		}
	}
	t := e.cookieCounter()
	h := e.p.hash4(g.id, uint32(g.seq), t<<3|uint32(m)) & 0xffffff
	se.iss = seqnum.Value(t<<27 | uint32(m)<<24 | h)
	se.tsOffset = e.cookieTSOffset(se)
	if g.opts.HasTimestamps {
		// The TSval we send must carry the options: take it from a
		// clock rounded down to 64 ms plus the encoded bits.
		opt := uint32(cookieNoScale)
		if g.opts.HasWindowScale {
			opt = uint32(min(g.opts.WindowScale, header.TCPMaxWindowScale))
		}
		if g.opts.SACKPermitted {
			opt |= cookieSACK
		}
		if se.ecn {
			opt |= cookieECN
		}
		now := uint32(e.s.Clock().NowMonotonic().Nanoseconds()/1e6) + se.tsOffset
		se.tsOffset -= now & cookieTSMask
		se.tsOffset += opt
	}
	if !g.opts.HasTimestamps {
		// No TSval to carry the ECN agreement: the SYN-ACK does not
		// offer it (see ecn.go).
		se.ecn = false
	}
	e.p.stats.SYNCookiesSent.Inc()
	e.sendSYNACKLocked(se)
}

// checkCookieLocked validates the cookie an ACK returns and rebuilds the
// half-open entry, or returns nil (counted in SYNCookiesInvalid).
func (e *endpoint) checkCookieLocked(g *segment) *synEntry {
	iss := uint32(g.ack - 1)
	irs := g.seq - 1
	t, m := iss>>27, int(iss>>24&7)
	now := e.cookieCounter()
	if (now-t)&31 > 1 || m >= len(cookieMSS) ||
		iss&0xffffff != e.p.hash4(g.id, uint32(irs), t<<3|uint32(m))&0xffffff {
		e.p.stats.SYNCookiesInvalid.Inc()
		return nil
	}
	e.p.stats.SYNCookiesValid.Inc()
	se := &synEntry{id: g.id, nic: g.nic, iss: seqnum.Value(iss), irs: irs}
	se.opts.HasMSS, se.opts.MSS = true, cookieMSS[m]
	se.advMSS = e.listenMSSLocked(g)
	se.tsOffset = e.cookieTSOffset(se)
	if g.opts.HasTimestamps {
		opt := g.opts.TSEcr & cookieTSMask
		se.opts.HasTimestamps, se.opts.TSVal = true, g.opts.TSVal
		if ws := opt & 0xf; ws != cookieNoScale {
			se.opts.HasWindowScale = true
			se.opts.WindowScale = uint8(ws)
			se.rcvWS = windowShift(e.rcvBufCeilLocked())
		}
		se.opts.SACKPermitted = opt&cookieSACK != 0
		se.ecn = opt&cookieECN != 0 && e.ecn.mode != ECNOff
		// The offset the SYN-ACK used: TSecr = our clock then +
		// offset, so offset = TSecr − our clock then; the clock then
		// is within a few seconds of now, so recompute it from the
		// ACK's echo instead of storing it.
		se.tsOffset = g.opts.TSEcr - uint32(e.s.Clock().NowMonotonic().Nanoseconds()/1e6) + 1
	}
	return se
}
