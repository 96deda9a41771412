package header

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// IPv4OptionKind is the option-type octet of an IPv4 option (RFC 791 §3.1):
// a copied flag, a two-bit class and a five-bit number.
type IPv4OptionKind uint8

// IPv4 option kinds (IANA "IP Option Numbers").
const (
	// IPv4OptionEOL ends the option list; the rest of the area is padding.
	IPv4OptionEOL IPv4OptionKind = 0
	// IPv4OptionNOP is a single padding byte between options.
	IPv4OptionNOP IPv4OptionKind = 1
	// IPv4OptionRecordRoute records the route (RFC 791 §3.1).
	IPv4OptionRecordRoute IPv4OptionKind = 7
	// IPv4OptionTimestamp records timestamps (RFC 791 §3.1).
	IPv4OptionTimestamp IPv4OptionKind = 68
	// IPv4OptionSecurity is the basic security option (RFC 1108).
	IPv4OptionSecurity IPv4OptionKind = 130
	// IPv4OptionLooseSourceRoute is loose source and record route.
	IPv4OptionLooseSourceRoute IPv4OptionKind = 131
	// IPv4OptionStreamID is the obsolete stream identifier (RFC 6814).
	IPv4OptionStreamID IPv4OptionKind = 136
	// IPv4OptionStrictSourceRoute is strict source and record route.
	IPv4OptionStrictSourceRoute IPv4OptionKind = 137
	// IPv4OptionRouterAlert asks routers to examine the packet (RFC 2113).
	IPv4OptionRouterAlert IPv4OptionKind = 148
)

// Copied reports whether the option must be copied into every fragment
// (RFC 791 §3.1 "copied flag"); the others stay in the first fragment only.
func (k IPv4OptionKind) Copied() bool { return k&0x80 != 0 }

// Class returns the option class: 0 control, 2 debugging and measurement.
func (k IPv4OptionKind) Class() uint8 { return uint8(k>>5) & 3 }

// Number returns the option number, the low five bits.
func (k IPv4OptionKind) Number() uint8 { return uint8(k) & 0x1f }

// String returns the option's name, or "option(N)".
func (k IPv4OptionKind) String() string {
	switch k {
	case IPv4OptionEOL:
		return "EOL"
	case IPv4OptionNOP:
		return "NOP"
	case IPv4OptionRecordRoute:
		return "RR"
	case IPv4OptionTimestamp:
		return "TS"
	case IPv4OptionSecurity:
		return "SEC"
	case IPv4OptionLooseSourceRoute:
		return "LSRR"
	case IPv4OptionStreamID:
		return "SID"
	case IPv4OptionStrictSourceRoute:
		return "SSRR"
	case IPv4OptionRouterAlert:
		return "RA"
	}
	return "option(" + strconv.Itoa(int(k)) + ")"
}

// IPv4Option is one option of an options area, as an IPv4OptionIterator
// yields it.
type IPv4Option struct {
	Kind IPv4OptionKind
	// Offset is where the option starts in the options area; add
	// IPv4MinimumSize for its offset in the header (the pointer of an
	// ICMP parameter problem).
	Offset int
	// Bytes is the whole option, aliasing the packet: the kind byte alone
	// for NOP, else kind, length and data.
	Bytes []byte
}

// Len returns the option's length in bytes.
func (o IPv4Option) Len() int { return len(o.Bytes) }

// Data returns the bytes after the kind and length octets (nil for NOP).
func (o IPv4Option) Data() []byte {
	if len(o.Bytes) < 2 {
		return nil
	}
	return o.Bytes[2:]
}

// IPv4OptionIterator walks an options area. The zero value is an empty area.
//
//	it := ip.OptionIterator()
//	for opt, ok := it.Next(); ok; opt, ok = it.Next() {
//		switch opt.Kind { … }
//	}
//	if err := it.Err(); err != nil { … }
type IPv4OptionIterator struct {
	opts []byte
	off  int
	err  error
}

// NewIPv4OptionIterator returns an iterator over options, an options area.
func NewIPv4OptionIterator(options []byte) IPv4OptionIterator {
	return IPv4OptionIterator{opts: options}
}

// OptionIterator returns an iterator over b's options.
func (b IPv4) OptionIterator() IPv4OptionIterator { return NewIPv4OptionIterator(b.Options()) }

// Next returns the next option and true, or false at the end of the list or
// on a malformed option (then Err is not nil). It yields NOPs and options of
// unknown kinds too: RFC 1122 §3.2.1.8 has a host ignore options it does not
// know, which their length lets it step over.
func (it *IPv4OptionIterator) Next() (IPv4Option, bool) {
	if it.err != nil || it.off >= len(it.opts) {
		return IPv4Option{}, false
	}
	off := it.off
	kind := IPv4OptionKind(it.opts[off])
	switch kind {
	case IPv4OptionEOL:
		// RFC 791 §3.1: End of Option List marks the end of all
		// options; what follows is padding, never read.
		it.off = len(it.opts)
		return IPv4Option{}, false
	case IPv4OptionNOP:
		// RFC 791 §3.1: a single octet with no length.
		it.off++
		return IPv4Option{Kind: kind, Offset: off, Bytes: it.opts[off : off+1]}, true
	}
	// RFC 791 §3.1 case (2): kind, length, data, where the length
	// counts the kind and length octets too. A length below 2 cannot
	// be, and one past the area would overrun it: the caller answers
	// either with a parameter problem at Offset (RFC 1122 §3.2.2.5).
	if off+1 >= len(it.opts) {
		it.err = ErrBadOption
		return IPv4Option{}, false
	}
	n := int(it.opts[off+1])
	if n < 2 || n > len(it.opts)-off {
		it.err = ErrBadOption
		return IPv4Option{}, false
	}
	it.off += n
	return IPv4Option{Kind: kind, Offset: off, Bytes: it.opts[off : off+n]}, true
}

// Err returns ErrBadOption if Next stopped at a malformed option, else nil.
func (it *IPv4OptionIterator) Err() error { return it.err }

// Offset returns the offset in the options area of the option Next reads
// next; after Next failed with an error, that of the malformed option.
func (it *IPv4OptionIterator) Offset() int { return it.off }

// IPv4CopiedOptions copies to dst the options of the area options whose
// copied flag is set (RFC 791 §3.2: those go in every fragment after the
// first) and returns the number of bytes written, unpadded. dst must hold
// len(options) bytes. It returns ErrBadOption for a malformed area.
func IPv4CopiedOptions(dst, options []byte) (int, error) {
	n := 0
	it := NewIPv4OptionIterator(options)
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if o.Kind.Copied() {
			n += copy(dst[n:], o.Bytes)
		}
	}
	return n, it.Err()
}

// Route options: record route, loose and strict source route.

// IPv4RouteOption is a view of a record route option (RFC 791 §3.1
// "Record Route"), or of a loose or strict source route option, which share
// its layout: kind, length, pointer, then four-byte address slots. The
// pointer is the 1-based offset, within the option, of the next slot.
type IPv4RouteOption []byte

// IPv4RecordRouteMaxSlots is the most addresses a record route option
// holds in the 40-byte options area.
const IPv4RecordRouteMaxSlots = (IPv4MaximumOptionsSize - ipv4OptRouteData) / IPv4AddressSize

const (
	ipv4OptRoutePointer = 2
	ipv4OptRouteData    = 3
	// ipv4OptRouteMinPointer: RFC 791 "the smallest legal value for the
	// pointer is 4", the first slot.
	ipv4OptRouteMinPointer = ipv4OptRouteData + 1
)

// Route returns o as a route option view if o is a record route, loose
// source route or strict source route option that is safe to read and
// record into. It returns ErrBadOption for another kind, a length below 3, a
// pointer below 4, or a pointer within the option but with less than a whole
// slot left (RFC 791: "the original datagram is considered to be in error
// and is discarded"). A pointer past the length means the route is full.
func (o IPv4Option) Route() (IPv4RouteOption, error) {
	b := o.Bytes
	switch o.Kind {
	case IPv4OptionRecordRoute, IPv4OptionLooseSourceRoute, IPv4OptionStrictSourceRoute:
	default:
		return nil, ErrBadOption
	}
	if len(b) <= ipv4OptRoutePointer {
		return nil, ErrBadOption
	}
	p := int(b[ipv4OptRoutePointer])
	if p < ipv4OptRouteMinPointer || p <= len(b) && p+IPv4AddressSize-1 > len(b) {
		return nil, ErrBadOption
	}
	return IPv4RouteOption(b), nil
}

// Kind returns the option's kind.
func (r IPv4RouteOption) Kind() IPv4OptionKind { return IPv4OptionKind(r[0]) }

// Pointer returns the pointer octet.
func (r IPv4RouteOption) Pointer() uint8 { return r[ipv4OptRoutePointer] }

// Slots returns the number of whole address slots.
func (r IPv4RouteOption) Slots() int { return (len(r) - ipv4OptRouteData) / IPv4AddressSize }

// Recorded returns the number of slots before the pointer: addresses
// recorded so far (record route), or visited (source routes).
func (r IPv4RouteOption) Recorded() int {
	return min(max(int(r.Pointer())-ipv4OptRouteMinPointer, 0)/IPv4AddressSize, r.Slots())
}

// Full reports whether no whole slot is left at the pointer: the pointer is
// past the length (a pointer that wrapped around 255 counts as full too).
func (r IPv4RouteOption) Full() bool {
	p := int(r.Pointer())
	return p < ipv4OptRouteMinPointer || p+IPv4AddressSize-1 > len(r)
}

// Address returns slot i, 0 <= i < Slots().
func (r IPv4RouteOption) Address(i int) netip.Addr {
	off := ipv4OptRouteData + i*IPv4AddressSize
	return netip.AddrFrom4([4]byte(r[off : off+IPv4AddressSize]))
}

// Next returns the address at the pointer: the next hop of a source route.
// It returns false if the route is full.
func (r IPv4RouteOption) Next() (netip.Addr, bool) {
	if r.Full() {
		return netip.Addr{}, false
	}
	p := int(r.Pointer()) - 1
	return netip.AddrFrom4([4]byte(r[p : p+IPv4AddressSize])), true
}

// Record writes addr, an IPv4 address, at the pointer and advances the
// pointer, as a router does (RFC 791 "Record Route": it inserts its own
// address and increases the pointer by four). It returns false, writing
// nothing, if the route is full: RFC 791 forwards such a datagram
// unchanged. The caller recomputes the IPv4 header checksum afterwards.
func (r IPv4RouteOption) Record(addr netip.Addr) bool {
	if r.Full() {
		return false
	}
	p := int(r.Pointer()) - 1
	a := addr.As4()
	copy(r[p:], a[:])
	r[ipv4OptRoutePointer] += IPv4AddressSize
	return true
}

// IPv4RecordRouteOptionFields is a record route option to encode, such as
// the one ping -R sends: Slots empty slots, or slots already holding
// Recorded with the pointer after them.
type IPv4RecordRouteOptionFields struct {
	// Slots is the number of address slots, at most
	// IPv4RecordRouteMaxSlots to fit the options area. It is
	// raised to len(Recorded) if smaller.
	Slots int
	// Recorded are the addresses already recorded (IPv4 addresses).
	Recorded []netip.Addr
}

// Size returns the option's length.
func (f *IPv4RecordRouteOptionFields) Size() int {
	return ipv4OptRouteData + max(f.Slots, len(f.Recorded))*IPv4AddressSize
}

// Encode writes the option at the start of b, which must hold Size() bytes,
// and returns it as a view.
func (f *IPv4RecordRouteOptionFields) Encode(b []byte) IPv4RouteOption {
	n := f.Size()
	b = b[:n]
	b[0] = uint8(IPv4OptionRecordRoute)
	b[1] = uint8(n)
	b[ipv4OptRoutePointer] = uint8(ipv4OptRouteMinPointer + len(f.Recorded)*IPv4AddressSize)
	clear(b[ipv4OptRouteData:])
	for i, a := range f.Recorded {
		a4 := a.As4()
		copy(b[ipv4OptRouteData+i*IPv4AddressSize:], a4[:])
	}
	return IPv4RouteOption(b)
}

// Timestamp option.

// IPv4TimestampOption is a view of an Internet Timestamp option (RFC 791
// §3.1): kind 68, length, pointer, a byte of overflow count (high four bits)
// and flag (low four bits), then entries of a timestamp or of an address and
// a timestamp. The pointer is the 1-based offset, within the option, of the
// next entry.
type IPv4TimestampOption []byte

// IPv4TimestampFlag is the flag of a timestamp option, which sets what each
// entry holds.
type IPv4TimestampFlag uint8

// Timestamp option flags (RFC 791 §3.1 "Internet Timestamp").
const (
	// IPv4TimestampOnly: entries are timestamps (4 bytes), as sent by
	// ping -T tsonly.
	IPv4TimestampOnly IPv4TimestampFlag = 0
	// IPv4TimestampAndAddress: each timestamp is preceded by the
	// recording module's address (8 bytes), ping -T tsandaddr.
	IPv4TimestampAndAddress IPv4TimestampFlag = 1
	// IPv4TimestampPrespecified: the sender fills in the addresses; only
	// the module whose address is next records its timestamp (ping -T
	// tsprespec).
	IPv4TimestampPrespecified IPv4TimestampFlag = 3
)

// String returns "tsonly", "tsandaddr", "tsprespec" or "flag(N)", the names
// ping(8) uses.
func (f IPv4TimestampFlag) String() string {
	switch f {
	case IPv4TimestampOnly:
		return "tsonly"
	case IPv4TimestampAndAddress:
		return "tsandaddr"
	case IPv4TimestampPrespecified:
		return "tsprespec"
	}
	return "flag(" + strconv.Itoa(int(f)) + ")"
}

// ipv4TimestampEntrySize returns the size of an entry under flag f.
func (f IPv4TimestampFlag) ipv4TimestampEntrySize() int {
	if f == IPv4TimestampOnly {
		return 4
	}
	return 8
}

const (
	ipv4OptTSPointer = 2
	ipv4OptTSOflwFlg = 3
	ipv4OptTSData    = 4
	// ipv4OptTSMinPointer: RFC 791 "The smallest legal value is 5".
	ipv4OptTSMinPointer = ipv4OptTSData + 1
	// RFC 791: the overflow count is four bits wide.
	ipv4OptTSMaxOverflow = 15
)

// Timestamp returns o as a timestamp option view if o is a timestamp option
// that is safe to read and record into. It returns ErrBadOption for another
// kind, a length below 4, a pointer below 5, a flag other than 0, 1 or 3, or
// a pointer within the option but with less than a whole entry left (RFC
// 791: "the original datagram is considered to be in error"). A pointer past
// the length means the option is full.
func (o IPv4Option) Timestamp() (IPv4TimestampOption, error) {
	b := o.Bytes
	if o.Kind != IPv4OptionTimestamp || len(b) < ipv4OptTSData {
		return nil, ErrBadOption
	}
	flag := IPv4TimestampFlag(b[ipv4OptTSOflwFlg] & 0xf)
	switch flag {
	case IPv4TimestampOnly, IPv4TimestampAndAddress, IPv4TimestampPrespecified:
	default:
		return nil, ErrBadOption
	}
	p := int(b[ipv4OptTSPointer])
	if p < ipv4OptTSMinPointer || p <= len(b) && p+flag.ipv4TimestampEntrySize()-1 > len(b) {
		return nil, ErrBadOption
	}
	return IPv4TimestampOption(b), nil
}

// Pointer returns the pointer octet.
func (t IPv4TimestampOption) Pointer() uint8 { return t[ipv4OptTSPointer] }

// Overflow returns the number of modules that could not record for lack of
// room.
func (t IPv4TimestampOption) Overflow() uint8 { return t[ipv4OptTSOflwFlg] >> 4 }

// Flag returns the flag: what the entries hold.
func (t IPv4TimestampOption) Flag() IPv4TimestampFlag {
	return IPv4TimestampFlag(t[ipv4OptTSOflwFlg] & 0xf)
}

// Slots returns the number of whole entries.
func (t IPv4TimestampOption) Slots() int {
	return (len(t) - ipv4OptTSData) / t.Flag().ipv4TimestampEntrySize()
}

// Recorded returns the number of entries before the pointer.
func (t IPv4TimestampOption) Recorded() int {
	return min(max(int(t.Pointer())-ipv4OptTSMinPointer, 0)/t.Flag().ipv4TimestampEntrySize(), t.Slots())
}

// Full reports whether no whole entry is left at the pointer: the pointer is
// past the length (a pointer that wrapped around 255 counts as full too).
func (t IPv4TimestampOption) Full() bool {
	p := int(t.Pointer())
	return p < ipv4OptTSMinPointer || p+t.Flag().ipv4TimestampEntrySize()-1 > len(t)
}

// Entry returns entry i, 0 <= i < Slots(): its address (the zero Addr for
// IPv4TimestampOnly) and its timestamp, milliseconds since midnight UT, or
// any value with the high bit set (RFC 791).
func (t IPv4TimestampOption) Entry(i int) IPv4TimestampEntry {
	size := t.Flag().ipv4TimestampEntrySize()
	e := t[ipv4OptTSData+i*size:][:size]
	if size == 4 {
		return IPv4TimestampEntry{Timestamp: binary.BigEndian.Uint32(e)}
	}
	return IPv4TimestampEntry{
		Address:   netip.AddrFrom4([4]byte(e[:4])),
		Timestamp: binary.BigEndian.Uint32(e[4:]),
	}
}

// Record registers a timestamp at the pointer and advances it (RFC 791
// "Internet Timestamp"): ts alone for IPv4TimestampOnly; addr, an IPv4
// address, and ts for IPv4TimestampAndAddress; ts only if addr is the next
// prespecified address for IPv4TimestampPrespecified. It returns false,
// writing nothing, if the option is full (see IncrementOverflow) or addr is
// not the next prespecified address. The caller recomputes the IPv4 header
// checksum afterwards.
func (t IPv4TimestampOption) Record(addr netip.Addr, ts uint32) bool {
	if t.Full() {
		return false
	}
	p := int(t.Pointer()) - 1
	flag := t.Flag()
	switch flag {
	case IPv4TimestampOnly:
		binary.BigEndian.PutUint32(t[p:], ts)
	case IPv4TimestampAndAddress:
		a := addr.As4()
		copy(t[p:], a[:])
		binary.BigEndian.PutUint32(t[p+4:], ts)
	case IPv4TimestampPrespecified:
		if !addr.Is4() || addr.As4() != [4]byte(t[p:p+4]) {
			return false
		}
		binary.BigEndian.PutUint32(t[p+4:], ts)
	default:
		return false
	}
	t[ipv4OptTSPointer] += uint8(flag.ipv4TimestampEntrySize())
	return true
}

// IncrementOverflow counts one more module that found the option full. It
// returns false, leaving the count at 15, if the count would overflow: RFC
// 791 then has the datagram discarded as in error.
func (t IPv4TimestampOption) IncrementOverflow() bool {
	if t.Overflow() == ipv4OptTSMaxOverflow {
		return false
	}
	t[ipv4OptTSOflwFlg] += 1 << 4
	return true
}

// IPv4TimestampEntry is an entry of a timestamp option.
type IPv4TimestampEntry struct {
	// Address is the recording module's address, or the prespecified
	// one; the zero Addr under IPv4TimestampOnly.
	Address netip.Addr
	// Timestamp is in milliseconds since midnight UT (RFC 791), or any
	// value with the high bit set if such a time is not available.
	Timestamp uint32
}

// IPv4TimestampOptionFields is a timestamp option to encode.
type IPv4TimestampOptionFields struct {
	Flag     IPv4TimestampFlag
	Overflow uint8 // low four bits used
	// Slots is the number of entries; it is raised to len(Entries) if
	// smaller. The option must fit IPv4MaximumOptionsSize: 9 entries of
	// IPv4TimestampOnly, 4 of the others.
	Slots int
	// Entries fill the first slots (addresses are ignored under
	// IPv4TimestampOnly); the remaining slots are zero.
	Entries []IPv4TimestampEntry
	// Recorded is the number of leading entries that already hold a
	// timestamp: the pointer is set after them. At most len(Entries).
	Recorded int
}

// Size returns the option's length.
func (f *IPv4TimestampOptionFields) Size() int {
	return ipv4OptTSData + max(f.Slots, len(f.Entries))*f.Flag.ipv4TimestampEntrySize()
}

// Encode writes the option at the start of b, which must hold Size() bytes,
// and returns it as a view.
func (f *IPv4TimestampOptionFields) Encode(b []byte) IPv4TimestampOption {
	n, size := f.Size(), f.Flag.ipv4TimestampEntrySize()
	b = b[:n]
	b[0] = uint8(IPv4OptionTimestamp)
	b[1] = uint8(n)
	b[ipv4OptTSPointer] = uint8(ipv4OptTSMinPointer + f.Recorded*size)
	b[ipv4OptTSOflwFlg] = f.Overflow<<4 | uint8(f.Flag&0xf)
	clear(b[ipv4OptTSData:])
	for i, e := range f.Entries {
		d := b[ipv4OptTSData+i*size:]
		if size == 4 {
			binary.BigEndian.PutUint32(d, e.Timestamp)
			continue
		}
		var a4 [4]byte
		if e.Address.IsValid() {
			a4 = e.Address.As4()
		}
		copy(d, a4[:])
		binary.BigEndian.PutUint32(d[4:], e.Timestamp)
	}
	return IPv4TimestampOption(b)
}

// Router alert option.

// IPv4RouterAlertOptionSize is the length of a router alert option.
const IPv4RouterAlertOptionSize = 4

// IPv4RouterAlertExamine is the router alert value of RFC 2113 §2.1: "Router
// shall examine packet", the only one assigned.
const IPv4RouterAlertExamine = 0

// RouterAlert returns the value of a router alert option (RFC 2113 §2.1:
// kind 148, length 4, a two-byte value). It returns ErrBadOption for another
// kind or length.
func (o IPv4Option) RouterAlert() (uint16, error) {
	if o.Kind != IPv4OptionRouterAlert || len(o.Bytes) != IPv4RouterAlertOptionSize {
		return 0, ErrBadOption
	}
	return binary.BigEndian.Uint16(o.Bytes[2:]), nil
}

// IPv4RouterAlertOptionFields is a router alert option to encode, as IGMP
// messages carry (RFC 2236 §2, RFC 3376 §4).
type IPv4RouterAlertOptionFields struct {
	Value uint16 // IPv4RouterAlertExamine
}

// Encode writes the option at the start of b, which must hold
// IPv4RouterAlertOptionSize bytes, and returns the option's bytes.
func (f *IPv4RouterAlertOptionFields) Encode(b []byte) []byte {
	b = b[:IPv4RouterAlertOptionSize]
	b[0] = uint8(IPv4OptionRouterAlert)
	b[1] = IPv4RouterAlertOptionSize
	binary.BigEndian.PutUint16(b[2:], f.Value)
	return b
}
