package ipv4

import (
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/header"
)

// ipv4Options says where the options IP acts on are in a header's options
// area. Offsets are -1 for absent options.
type ipv4Options struct {
	recordRoute int
	timestamp   int
	routerAlert bool
	sourceRoute bool
}

// ipv4NoOptions is the ipv4Options of a header without options.
var ipv4NoOptions = ipv4Options{recordRoute: -1, timestamp: -1}

// ipv4ParseOptions checks an options area. It returns the options found and
// ok, or the offset within the header of the octet in error, for an ICMP
// Parameter Problem (RFC 792, RFC 1122 §3.2.2.5).
func ipv4ParseOptions(opts []byte) (o ipv4Options, pointer int, ok bool) {
	o = ipv4NoOptions
	it := header.NewIPv4OptionIterator(opts)
	for opt, more := it.Next(); more; opt, more = it.Next() {
		// The octet in error of a bad option body is its pointer
		// (the third octet), as Linux reports it.
		bad := header.IPv4MinimumSize + opt.Offset + 2
		switch opt.Kind {
		case header.IPv4OptionRecordRoute:
			// RFC 791 §3.1: record route appears at most once
			// (Linux rejects a second one as malformed).
			if _, err := opt.Route(); err != nil || o.recordRoute >= 0 {
				return o, bad, false
			}
			o.recordRoute = opt.Offset
		case header.IPv4OptionTimestamp:
			if _, err := opt.Timestamp(); err != nil || o.timestamp >= 0 {
				return o, bad, false
			}
			o.timestamp = opt.Offset
		case header.IPv4OptionRouterAlert:
			// RFC 2113 §2.1: length 4, value 0 the only one assigned;
			// other values are to be ignored, not rejected.
			if _, err := opt.RouterAlert(); err != nil {
				return o, header.IPv4MinimumSize + opt.Offset + 1, false
			}
			o.routerAlert = true
		case header.IPv4OptionLooseSourceRoute, header.IPv4OptionStrictSourceRoute:
			o.sourceRoute = true
		}
		// RFC 1122 §3.2.1.8: options a host does not implement are
		// ignored; the iterator has checked that their length fits.
	}
	if it.Err() != nil {
		return o, header.IPv4MinimumSize + it.Offset() + 1, false
	}
	return o, 0, true
}

// ipv4OptionAt returns the option that starts at off in the options area of
// a header whose options ipv4ParseOptions accepted.
func ipv4OptionAt(opts []byte, off int) header.IPv4Option {
	return header.IPv4Option{
		Kind:   header.IPv4OptionKind(opts[off]),
		Offset: off,
		Bytes:  opts[off : off+int(opts[off+1])],
	}
}

// ipv4RecordOptions makes this module's entry in the record route and
// timestamp options of h (RFC 791 §3.1): addr, the address of the
// interface the datagram is received on or sent from, and the time. It
// reports whether it changed h (the caller then recomputes the checksum)
// and false in ok if the timestamp option's overflow count overflowed,
// which RFC 791 makes an error that discards the datagram.
func ipv4RecordOptions(h header.IPv4, o ipv4Options, addr netip.Addr, now time.Time) (changed, ok bool) {
	opts := h.Options()
	if o.recordRoute >= 0 {
		rr, err := ipv4OptionAt(opts, o.recordRoute).Route()
		// RFC 791 "Record Route": a full route is left as it is and
		// the datagram forwarded without the address.
		if err == nil && rr.Record(addr) {
			changed = true
		}
	}
	if o.timestamp >= 0 {
		ts, err := ipv4OptionAt(opts, o.timestamp).Timestamp()
		if err == nil {
			if ts.Full() {
				// RFC 791 "Internet Timestamp": a module that finds
				// no room counts itself in the overflow; if the
				// count overflows, the datagram is in error.
				if !ts.IncrementOverflow() {
					return changed, false
				}
				changed = true
			} else if ts.Record(addr, ipv4Timestamp(now)) {
				changed = true
			}
		}
	}
	return changed, true
}

// ipv4Timestamp returns the time of an Internet Timestamp: milliseconds
// since midnight UT (RFC 791 §3.1).
func ipv4Timestamp(now time.Time) uint32 {
	now = now.UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return uint32(now.Sub(midnight) / time.Millisecond)
}

// ipv4EchoReplyOptions copies into dst the options of a received echo
// request that its reply carries: RFC 1122 §3.2.2.6 has the record route
// and timestamp options of an echo request returned in the reply, updated
// by this host, so that they describe the whole round trip. It returns the
// number of bytes written (dst must hold IPv4MaximumOptionsSize).
func ipv4EchoReplyOptions(dst []byte, h header.IPv4, o ipv4Options) int {
	n := 0
	opts := h.Options()
	for _, off := range [...]int{o.recordRoute, o.timestamp} {
		if off >= 0 {
			n += copy(dst[n:], ipv4OptionAt(opts, off).Bytes)
		}
	}
	return n
}
