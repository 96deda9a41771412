// Package sniffer records the frames that cross a link: it wraps a link
// endpoint and writes every inbound and outbound frame to an io.Writer as
// a pcap file (the libpcap format that tcpdump, tshark and Wireshark
// read), and optionally logs one line per frame with a short decode of its
// headers through log/slog.
//
// # Where to put it
//
// A sniffer must see whole frames, link header included. Two compositions
// do, and both produce the same file:
//
//	ethernet.New(sniffer.New(raw, w, opts)) // below the framing
//	sniffer.New(ethernet.New(raw), w, opts) // around the framing
//
// Below the framing, outbound frames reach the sniffer's WritePackets with
// the Ethernet header already prepended (ethernet.AddHeader runs before the
// inner link's AddHeader) and inbound frames reach it whole, before the
// Ethernet endpoint consumes the header. Around the framing, outbound
// packets reach it after AddHeader, and inbound ones with the Ethernet
// header consumed into the packet's header area, which the sniffer puts
// back in front. Either way a captured frame is the packet's headers
// followed by its payload. The same holds for links without a link header
// (TUN, loopback, a pipe of IP packets), whose captures are bare IP.
//
// The pcap link type (Options.LinkType) is by default LINKTYPE_ETHERNET
// (1) when the wrapped link has a link address or needs address resolution
// (it is, or carries, Ethernet), and LINKTYPE_RAW (101, bare IPv4 or IPv6)
// otherwise. Set it explicitly for a link of Ethernet frames that has no
// address.
//
// # Writing
//
// The file header is written by New; each frame is written as one record,
// by one Write call, under a lock, so that frames from the inbound and
// outbound paths never interleave. Timestamps come from Options.Clock,
// never from the time package directly, so that a capture under a manual
// clock is reproducible. Outbound frames are recorded as they are offered
// to the wrapped link, before it writes them (or refuses them). Writing is
// synchronous on the packet path: wrap a slow writer in a bufio.Writer
// (Close flushes a writer that has a Flush method). The first write error
// stops the capture for good (Err reports it, Stats counts it and the
// frames not captured after it); it never affects the traffic.
//
// # Checksum offload
//
// On a link that reports checksum offload (link/pipe by default), the
// stacks leave TCP and UDP checksums to the link, which has none to
// compute: the frames are captured with those fields unfilled (usually
// zero), and tshark or Wireshark, if told to validate checksums, flag them,
// as tcpdump does on a Linux veth or on the sending side of a NIC with
// offload. Options.FillChecksums computes them in the captured copy, for
// frames captured whole (not cut by Snaplen) and not fragments; the frames
// on the link stay as they are.
package sniffer

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/link/linkutil"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// LinkType is a pcap link-layer header type (the LINKTYPE_ values of the
// tcpdump.org registry).
type LinkType uint32

// Link types the sniffer writes.
const (
	// LinkTypeEthernet is LINKTYPE_ETHERNET: Ethernet II frames
	// without the FCS.
	LinkTypeEthernet LinkType = 1
	// LinkTypeRaw is LINKTYPE_RAW: bare IPv4 or IPv6 packets, told
	// apart by the version nibble.
	LinkTypeRaw LinkType = 101
)

// DefaultSnaplen is the snapshot length when Options.Snaplen is zero:
// libpcap's maximum, 262144 bytes, which no frame of ustack reaches.
const DefaultSnaplen = 262144

// Options configures a sniffer. The zero value is usable: real clock,
// microsecond timestamps, DefaultSnaplen, link type chosen from the wrapped
// link, no text log.
type Options struct {
	// Clock gives the timestamps; nil means tcpip.NewStdClock().
	Clock tcpip.Clock
	// Snaplen is the most bytes of a frame recorded; longer frames are
	// cut (their record keeps the original length). Zero means
	// DefaultSnaplen.
	Snaplen uint32
	// Nanosecond writes nanosecond timestamps (the file magic
	// 0xa1b23c4d) instead of microsecond ones (0xa1b2c3d4).
	Nanosecond bool
	// LinkType is the pcap link type; zero chooses as the package doc
	// says.
	LinkType LinkType
	// Logger, if not nil, gets one record per frame: its direction
	// ("recv" or "send"), length and a short decode of its headers.
	Logger *slog.Logger
	// LogLevel is the level of those records (slog.LevelInfo by
	// default, the zero value).
	LogLevel slog.Level
	// FillChecksums, on a link with checksum offload (see the package
	// doc), computes the TCP and UDP checksums in the copy of each frame
	// that is captured and logged, so that readers do not flag them. The
	// traffic is untouched; it costs a checksum pass per frame captured.
	FillChecksums bool
}

// Stats counts what a sniffer recorded.
type Stats struct {
	Captured    tcpip.Counter // frames written to the pcap
	WriteErrors tcpip.Counter // failed writes (the first stops the capture)
	NotCaptured tcpip.Counter // frames seen after the capture stopped
	Logged      tcpip.Counter // frames logged through the Logger
}

// pcap file layout (libpcap format, draft-ietf-opsawg-pcap §4 and §5):
// a 24-byte file header, then per frame a 16-byte record header and the
// captured bytes. The sniffer writes every field little-endian; readers
// detect the byte order from the magic number.
const (
	pcapMagicMicro     = 0xa1b2c3d4
	pcapMagicNano      = 0xa1b23c4d
	pcapVersionMajor   = 2
	pcapVersionMinor   = 4
	pcapFileHeaderSize = 24
	pcapRecordSize     = 16
)

// Endpoint is a link endpoint that records the frames crossing the link it
// wraps. Its methods are safe for concurrent use.
type Endpoint struct {
	inner    stack.LinkEndpoint
	clock    tcpip.Clock
	snaplen  uint32
	nano     bool
	linkType LinkType
	logger   *slog.Logger
	level    slog.Level
	// fill is whether record fills in offloaded checksums; immutable.
	fill bool
	// hasWriter is whether New was given a writer; immutable.
	hasWriter bool
	gate      linkutil.DispatchGate
	stats     Stats

	mu sync.Mutex // serialises the writes to w and guards the fields below
	w  io.Writer  // nil once the capture stopped (or without a writer)
	// err is the write error that stopped the capture.
	err error
	// scratch holds one record while it is written; it grows to the
	// largest record seen.
	scratch []byte
}

var (
	_ stack.LinkEndpoint      = (*Endpoint)(nil)
	_ stack.NetworkDispatcher = (*Endpoint)(nil)
)

// New returns an endpoint that wraps inner and records its frames to w
// (nil for a text log only), and writes the pcap file header to w. The
// Endpoint owns inner: its Close closes inner.
func New(inner stack.LinkEndpoint, w io.Writer, opts Options) *Endpoint {
	e := &Endpoint{
		inner:     inner,
		clock:     opts.Clock,
		snaplen:   opts.Snaplen,
		nano:      opts.Nanosecond,
		linkType:  opts.LinkType,
		logger:    opts.Logger,
		level:     opts.LogLevel,
		w:         w,
		hasWriter: w != nil,
		fill:      opts.FillChecksums && inner.Capabilities()&(stack.CapabilityRXChecksumOffload|stack.CapabilityTXChecksumOffload) != 0,
	}
	if e.clock == nil {
		e.clock = tcpip.NewStdClock()
	}
	if e.snaplen == 0 {
		e.snaplen = DefaultSnaplen
	}
	if e.linkType == 0 {
		e.linkType = LinkTypeRaw
		if !inner.LinkAddress().IsZero() || inner.Capabilities()&stack.CapabilityResolutionRequired != 0 {
			e.linkType = LinkTypeEthernet
		}
	}
	if w != nil {
		var h [pcapFileHeaderSize]byte
		magic := uint32(pcapMagicMicro)
		if e.nano {
			magic = pcapMagicNano
		}
		le := binary.LittleEndian
		le.PutUint32(h[0:], magic)
		le.PutUint16(h[4:], pcapVersionMajor)
		le.PutUint16(h[6:], pcapVersionMinor)
		// h[8:16]: thiszone and sigfigs, zero (timestamps are UTC).
		le.PutUint32(h[16:], e.snaplen)
		le.PutUint32(h[20:], uint32(e.linkType))
		e.writeLocked(h[:])
	}
	return e
}

// LinkType returns the pcap link type of the capture.
func (e *Endpoint) LinkType() LinkType { return e.linkType }

// Stats returns the sniffer's counters.
func (e *Endpoint) Stats() *Stats { return &e.stats }

// Err returns the write error that stopped the capture, or nil.
func (e *Endpoint) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Inner returns the wrapped link.
func (e *Endpoint) Inner() stack.LinkEndpoint { return e.inner }

// MTU implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) MTU() uint32 { return e.inner.MTU() }

// MaxHeaderLength implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) MaxHeaderLength() int { return e.inner.MaxHeaderLength() }

// LinkAddress implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress { return e.inner.LinkAddress() }

// Capabilities implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) Capabilities() stack.LinkCapabilities { return e.inner.Capabilities() }

// AddHeader implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) AddHeader(pkt *buffer.Packet) { e.inner.AddHeader(pkt) }

// Attach implements stack.LinkEndpoint: the sniffer attaches itself to the
// wrapped link and passes what it delivers on to d.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		e.inner.Attach(nil)
		e.gate.Attach(nil)
		return
	}
	e.gate.Attach(d)
	e.inner.Attach(e)
}

// WritePackets implements stack.LinkEndpoint: it records each packet, then
// hands them all to the wrapped link.
func (e *Endpoint) WritePackets(pkts []*buffer.Packet) (int, error) {
	for _, pkt := range pkts {
		e.record(pkt, true /* outbound */)
	}
	return e.inner.WritePackets(pkts)
}

// DeliverNetworkPacket implements stack.NetworkDispatcher for the wrapped
// link: it records pkt, then delivers it to the dispatcher attached to the
// sniffer.
func (e *Endpoint) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	e.record(pkt, false /* outbound */)
	e.gate.Deliver(proto, pkt)
}

// Close implements stack.LinkEndpoint: it closes the wrapped link, then
// flushes w if it has a Flush method (bufio.Writer). It does not close w.
func (e *Endpoint) Close() {
	e.inner.Close()
	e.gate.Attach(nil)
	e.mu.Lock()
	defer e.mu.Unlock()
	if f, ok := e.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			e.failLocked(err)
		}
	}
}

// record writes pkt's bytes (headers, then payload) as a pcap record and
// logs them.
func (e *Endpoint) record(pkt *buffer.Packet, outbound bool) {
	logging := e.logger != nil && e.logger.Enabled(context.Background(), e.level)
	if !e.hasWriter && !logging {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.w == nil {
		if e.err != nil {
			e.stats.NotCaptured.Inc()
		}
		if !logging {
			return
		}
	}
	origLen := pkt.Len()
	capLen := min(origLen, int(e.snaplen))
	need := pcapRecordSize + capLen
	if cap(e.scratch) < need {
		e.scratch = make([]byte, need)
	}
	rec := e.scratch[:need]
	data := rec[pcapRecordSize:]
	n := copy(data, pkt.Headers())
	for b := range pkt.Payload.All() {
		if n == len(data) {
			break
		}
		n += copy(data[n:], b)
	}
	if e.fill && capLen == origLen {
		fillChecksums(e.linkType, data)
	}
	if e.w != nil {
		now := e.clock.Now()
		frac := uint32(now.Nanosecond() / 1000)
		if e.nano {
			frac = uint32(now.Nanosecond())
		}
		le := binary.LittleEndian
		// The seconds field is 32 bits: it wraps in 2106.
		le.PutUint32(rec[0:], uint32(now.Unix()))
		le.PutUint32(rec[4:], frac)
		le.PutUint32(rec[8:], uint32(capLen))
		le.PutUint32(rec[12:], uint32(origLen))
		if e.writeLocked(rec) {
			e.stats.Captured.Inc()
		}
	}
	if logging {
		e.logLocked(data, origLen, outbound)
	}
}

// writeLocked writes b to w, stopping the capture on error, and reports
// whether it succeeded. e.mu is held (or e is not shared yet).
func (e *Endpoint) writeLocked(b []byte) bool {
	if _, err := e.w.Write(b); err != nil {
		e.failLocked(err)
		return false
	}
	return true
}

// failLocked stops the capture after the write error err.
func (e *Endpoint) failLocked(err error) {
	e.stats.WriteErrors.Inc()
	if e.err == nil {
		e.err = err
	}
	e.w = nil
}

// logLocked logs one captured frame.
func (e *Endpoint) logLocked(data []byte, origLen int, outbound bool) {
	dir := "recv"
	if outbound {
		dir = "send"
	}
	e.logger.LogAttrs(context.Background(), e.level, "packet",
		slog.String("dir", dir),
		slog.Int("len", origLen),
		slog.String("summary", Summary(e.linkType, data)))
	e.stats.Logged.Inc()
}
