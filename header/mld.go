package header

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// MLD messages are ICMPv6 messages (RFC 2710 §3, RFC 3810 §5): the views
// here are over the ICMPv6 message body (ICMPv6.MessageBody, the message
// after type, code and checksum), and the message's type and checksum are
// the ICMPv6 view's. The ICMPv6 types are ICMPv6MLDQuery (both versions),
// ICMPv6MLDv1Report, ICMPv6MLDv1Done and ICMPv6MLDv2Report.

// Sizes of MLD message bodies (after the 4-byte ICMPv6 header).
const (
	// MLDMinimumSize is the size of the body of an MLDv1 message (query,
	// report or done, RFC 2710 §3): the whole message is 24 bytes.
	MLDMinimumSize = 20
	// MLDv2QueryMinimumSize is the size of the body of an MLDv2 query
	// without sources (RFC 3810 §5.1): the message is at least 28 bytes.
	MLDv2QueryMinimumSize = 24
	// MLDv2ReportMinimumSize is the size of the body of an MLDv2 report
	// before its records (RFC 3810 §5.2).
	MLDv2ReportMinimumSize = 4
	// MLDv2RecordMinimumSize is the size of a multicast address record
	// without sources or auxiliary data (RFC 3810 §5.2.4).
	MLDv2RecordMinimumSize = 20
)

const (
	mldMaxRespOff = 0
	mldAddrOff    = 4 // after a reserved 16-bit word
	// MLDv2 query (RFC 3810 §5.1).
	mldQueryFlagsOff      = 20 // Resv (4 bits), S (1), QRV (3)
	mldQueryQQICOff       = 21
	mldQueryNumSourcesOff = 22
	mldQuerySourcesOff    = 24
	mldQuerySFlag         = 0x08
	mldQueryQRVMask       = 0x07
	// MLDv2 report (RFC 3810 §5.2), after a reserved 16-bit word.
	mldReportNumRecordsOff = 2
	// MLDv2 multicast address record (RFC 3810 §5.2.4).
	mldRecordTypeOff       = 0
	mldRecordAuxLenOff     = 1
	mldRecordNumSourcesOff = 2
	mldRecordAddrOff       = 4
	mldRecordSourcesOff    = 20
)

// MLDQueryVersion returns the MLD version of a Multicast Listener Query
// with the given message body, told by its length as RFC 3810 §8.1 says: a
// 24-octet message is MLDv1, one of 28 octets or more MLDv2. It returns 0
// for other lengths (25 to 27 octets, or too short), which RFC 3810 §8.1
// has receivers silently ignore.
func MLDQueryVersion(body []byte) int {
	switch n := len(body); {
	case n == MLDMinimumSize:
		return 1
	case n >= MLDv2QueryMinimumSize:
		return 2
	}
	return 0
}

// mldDecodeFloat decodes a 16-bit Maximum Response Code in the form of
// RFC 3810 §5.1.3: below 32768 the code is the value; from 32768 up it is
// 1|exp(3)|mant(12), the value (mant | 0x1000) << (exp + 3).
func mldDecodeFloat(code uint16) uint32 {
	if code < 0x8000 {
		return uint32(code)
	}
	exp := (code >> 12) & 0x7
	mant := code & 0xfff
	return uint32(mant|0x1000) << (exp + 3)
}

// mldEncodeFloat returns the code whose value is the largest not above v,
// clamped to the largest code.
func mldEncodeFloat(v uint64) uint16 {
	if v < 0x8000 {
		return uint16(v)
	}
	for exp := range uint16(8) {
		// Values with this exponent run from 0x1000<<(exp+3) to
		// 0x1fff<<(exp+3).
		if m := v >> (exp + 3); m <= 0x1fff {
			return 0x8000 | exp<<12 | uint16(m&0xfff)
		}
	}
	return 0xffff
}

// mldAddr reads the IPv6 address at off.
func mldAddr(b []byte, off int) netip.Addr {
	return netip.AddrFrom16([16]byte(b[off : off+16]))
}

// mldPutAddr writes a at off (zeros for the zero Addr).
func mldPutAddr(b []byte, off int, a netip.Addr) {
	a16 := a.As16()
	copy(b[off:off+16], a16[:])
}

// MLD is a view of the body of an MLDv1 message (RFC 2710 §3): a query, a
// report or a done, told apart by the ICMPv6 type.
type MLD []byte

// ParseMLD returns body, an ICMPv6 message body, as an MLDv1 view if it
// holds MLDMinimumSize bytes (ErrTruncated otherwise). Longer bodies are
// accepted (RFC 2710 §5: "longer than 24 octets ... future backward
// compatible"): an MLDv2 query is also a valid MLDv1 query.
func ParseMLD(body []byte) (MLD, error) {
	if len(body) < MLDMinimumSize {
		return nil, ErrTruncated
	}
	return MLD(body), nil
}

// MaxRespCode returns the Maximum Response Delay field in its raw form.
func (b MLD) MaxRespCode() uint16 { return binary.BigEndian.Uint16(b[mldMaxRespOff:]) }

// MaxResponseDelay returns the Maximum Response Delay of a query: the field
// in milliseconds (RFC 2710 §3.4; zero in reports and dones).
func (b MLD) MaxResponseDelay() time.Duration {
	return time.Duration(b.MaxRespCode()) * time.Millisecond
}

// MulticastAddress returns the address queried (the unspecified address in
// a general query), reported or left (RFC 2710 §3.6).
func (b MLD) MulticastAddress() netip.Addr { return mldAddr(b, mldAddrOff) }

// Fields returns the decoded message body.
func (b MLD) Fields() MLDFields {
	return MLDFields{MaxResponseDelay: b.MaxResponseDelay(), MulticastAddress: b.MulticastAddress()}
}

// MLDFields is the body of an MLDv1 message to encode (RFC 2710 §3).
type MLDFields struct {
	// MaxResponseDelay is written in milliseconds, truncated, and
	// clamped to 65.535 seconds; reports and dones carry zero.
	MaxResponseDelay time.Duration
	MulticastAddress netip.Addr // an IPv6 address
}

// Encode writes the body at the start of b and returns it as a view of
// MLDMinimumSize bytes.
func (f *MLDFields) Encode(b []byte) MLD {
	b = b[:MLDMinimumSize]
	binary.BigEndian.PutUint16(b[mldMaxRespOff:],
		uint16(ndpDurationUnits(f.MaxResponseDelay, time.Millisecond, math.MaxUint16)))
	binary.BigEndian.PutUint16(b[2:], 0) // Reserved
	mldPutAddr(b, mldAddrOff, f.MulticastAddress)
	return MLD(b)
}

// MLDv2Query is a view of the body of an MLDv2 query (RFC 3810 §5.1).
type MLDv2Query []byte

// ParseMLDv2Query returns body, an ICMPv6 message body, as an MLDv2 query
// view after checking that it holds the fixed part and the sources its
// Number of Sources declares (ErrTruncated otherwise). Bytes after the
// sources are allowed. Call it on a query whose MLDQueryVersion is 2.
func ParseMLDv2Query(body []byte) (MLDv2Query, error) {
	if len(body) < MLDv2QueryMinimumSize {
		return nil, ErrTruncated
	}
	n := int(binary.BigEndian.Uint16(body[mldQueryNumSourcesOff:]))
	if len(body) < MLDv2QueryMinimumSize+16*n {
		return nil, ErrTruncated
	}
	return MLDv2Query(body), nil
}

// MaxRespCode returns the Maximum Response Code field (RFC 3810 §5.1.3).
func (b MLDv2Query) MaxRespCode() uint16 { return binary.BigEndian.Uint16(b[mldMaxRespOff:]) }

// MaxResponseDelay returns the longest time a listener may wait before
// reporting: the Maximum Response Code decoded as RFC 3810 §5.1.3 says
// (below 32768 in milliseconds, from 32768 up a floating-point value in
// milliseconds, at most 8387.584 seconds).
func (b MLDv2Query) MaxResponseDelay() time.Duration {
	return time.Duration(mldDecodeFloat(b.MaxRespCode())) * time.Millisecond
}

// MulticastAddress returns the address queried: the unspecified address in
// a general query (RFC 3810 §5.1.5).
func (b MLDv2Query) MulticastAddress() netip.Addr { return mldAddr(b, mldAddrOff) }

// SuppressRouterProcessing reports the S flag (RFC 3810 §5.1.7).
func (b MLDv2Query) SuppressRouterProcessing() bool {
	return b[mldQueryFlagsOff]&mldQuerySFlag != 0
}

// QRV returns the Querier's Robustness Variable, 0 if it exceeds 7
// (RFC 3810 §5.1.8).
func (b MLDv2Query) QRV() uint8 { return b[mldQueryFlagsOff] & mldQueryQRVMask }

// QQIC returns the Querier's Query Interval Code field (RFC 3810 §5.1.9).
func (b MLDv2Query) QQIC() uint8 { return b[mldQueryQQICOff] }

// QueryInterval returns the Querier's Query Interval: QQIC decoded as
// RFC 3810 §5.1.9 says (the 8-bit floating-point form of IGMPv3, in
// seconds).
func (b MLDv2Query) QueryInterval() time.Duration {
	return time.Duration(igmpDecodeFloat(b.QQIC())) * time.Second
}

// NumberOfSources returns the Number of Sources field (RFC 3810 §5.1.10).
func (b MLDv2Query) NumberOfSources() uint16 {
	return binary.BigEndian.Uint16(b[mldQueryNumSourcesOff:])
}

// Sources returns an iterator over the source addresses (RFC 3810
// §5.1.11).
func (b MLDv2Query) Sources() MLDSourceIterator {
	if len(b) < MLDv2QueryMinimumSize {
		return MLDSourceIterator{}
	}
	return MLDSourceIterator{rest: b[mldQuerySourcesOff:], n: int(b.NumberOfSources())}
}

// SetSource sets the i-th source address of a query built with
// MLDv2QueryFields.Encode.
func (b MLDv2Query) SetSource(i int, a netip.Addr) { mldPutAddr(b, mldQuerySourcesOff+16*i, a) }

// Fields returns the decoded fixed part of the query. The sources are not
// part of it: walk them with Sources.
func (b MLDv2Query) Fields() MLDv2QueryFields {
	return MLDv2QueryFields{
		MaxResponseDelay:         b.MaxResponseDelay(),
		MulticastAddress:         b.MulticastAddress(),
		SuppressRouterProcessing: b.SuppressRouterProcessing(),
		QRV:                      b.QRV(),
		QueryInterval:            b.QueryInterval(),
		NumberOfSources:          b.NumberOfSources(),
	}
}

// MLDv2QueryFields is the body of an MLDv2 query to encode (RFC 3810
// §5.1). Encode writes the fixed part and leaves room for NumberOfSources
// sources, which the caller sets with MLDv2Query.SetSource.
type MLDv2QueryFields struct {
	// MaxResponseDelay is written as the Maximum Response Code of
	// RFC 3810 §5.1.3: the largest code not above it (in milliseconds),
	// clamped to 8387.584 seconds.
	MaxResponseDelay         time.Duration
	MulticastAddress         netip.Addr // IPv6, or the zero Addr for a general query
	SuppressRouterProcessing bool
	QRV                      uint8 // 0 to 7; 0 if the robustness variable exceeds 7
	// QueryInterval is written as the QQIC of RFC 3810 §5.1.9, rounded
	// down to a representable number of seconds, clamped to 31744 s.
	QueryInterval   time.Duration
	NumberOfSources uint16
}

// Size returns the size of the body: 24 bytes and 16 per source.
func (f *MLDv2QueryFields) Size() int {
	return MLDv2QueryMinimumSize + 16*int(f.NumberOfSources)
}

// Encode writes the body at the start of b, its sources zero, and returns it
// as a view of Size bytes.
func (f *MLDv2QueryFields) Encode(b []byte) MLDv2Query {
	b = b[:f.Size()]
	binary.BigEndian.PutUint16(b[mldMaxRespOff:],
		mldEncodeFloat(ndpDurationUnits(f.MaxResponseDelay, time.Millisecond, math.MaxUint32)))
	binary.BigEndian.PutUint16(b[2:], 0) // Reserved
	mldPutAddr(b, mldAddrOff, f.MulticastAddress)
	flags := f.QRV & mldQueryQRVMask
	if f.SuppressRouterProcessing {
		flags |= mldQuerySFlag
	}
	b[mldQueryFlagsOff] = flags
	b[mldQueryQQICOff] = igmpEncodeFloat(ndpDurationUnits(f.QueryInterval, time.Second, math.MaxUint32))
	binary.BigEndian.PutUint16(b[mldQueryNumSourcesOff:], f.NumberOfSources)
	clear(b[mldQuerySourcesOff:])
	return MLDv2Query(b)
}

// MLDSourceIterator walks the IPv6 source addresses of an MLDv2 query or
// multicast address record. The zero value is an empty iterator.
type MLDSourceIterator struct {
	rest []byte
	n    int // sources left
	err  error
}

// Next returns the next source address, or false after the last one or if
// the message ends early (then Err reports ErrTruncated; views from the
// Parse functions never do).
func (it *MLDSourceIterator) Next() (netip.Addr, bool) {
	if it.err != nil || it.n == 0 {
		return netip.Addr{}, false
	}
	if len(it.rest) < 16 {
		it.err = ErrTruncated
		return netip.Addr{}, false
	}
	a := netip.AddrFrom16([16]byte(it.rest[:16]))
	it.rest = it.rest[16:]
	it.n--
	return a, true
}

// Err returns the error that stopped the iteration, or nil.
func (it *MLDSourceIterator) Err() error { return it.err }

// MLDv2Report is a view of the body of an MLDv2 report (RFC 3810 §5.2).
type MLDv2Report []byte

// ParseMLDv2Report returns body, an ICMPv6 message body, as an MLDv2 report
// view after checking that it holds every multicast address record its
// Number of Records declares, each with its sources and auxiliary data
// (ErrTruncated otherwise). Bytes after the last record are allowed.
func ParseMLDv2Report(body []byte) (MLDv2Report, error) {
	if len(body) < MLDv2ReportMinimumSize {
		return nil, ErrTruncated
	}
	it := MLDv2Report(body).Records()
	for _, ok := it.Next(); ok; _, ok = it.Next() {
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return MLDv2Report(body), nil
}

// NumberOfRecords returns the Nr of Mcast Address Records field (RFC 3810
// §5.2.3).
func (b MLDv2Report) NumberOfRecords() uint16 {
	return binary.BigEndian.Uint16(b[mldReportNumRecordsOff:])
}

// Records returns an iterator over the multicast address records.
func (b MLDv2Report) Records() MLDv2RecordIterator {
	if len(b) < MLDv2ReportMinimumSize {
		return MLDv2RecordIterator{}
	}
	return MLDv2RecordIterator{rest: b[MLDv2ReportMinimumSize:], n: int(b.NumberOfRecords())}
}

// RecordBytes returns the bytes after the report's fixed part, where the
// records are.
func (b MLDv2Report) RecordBytes() []byte { return b[MLDv2ReportMinimumSize:] }

// Fields returns the decoded fixed part of the report.
func (b MLDv2Report) Fields() MLDv2ReportFields {
	return MLDv2ReportFields{NumberOfRecords: b.NumberOfRecords()}
}

// MLDv2ReportFields is the fixed part of the body of an MLDv2 report to
// encode (RFC 3810 §5.2). The records follow it: encode them one after the
// other with MLDv2RecordFields.Encode into the view's RecordBytes.
type MLDv2ReportFields struct {
	NumberOfRecords uint16
}

// Encode writes the fixed part at the start of b, the message body, and
// returns all of b as a view.
func (f *MLDv2ReportFields) Encode(b []byte) MLDv2Report {
	h := b[:MLDv2ReportMinimumSize]
	binary.BigEndian.PutUint16(h[0:], 0) // Reserved
	binary.BigEndian.PutUint16(h[mldReportNumRecordsOff:], f.NumberOfRecords)
	return MLDv2Report(b)
}

// MLDv2RecordType is the Record Type of an MLDv2 multicast address record
// (RFC 3810 §5.2.12).
type MLDv2RecordType uint8

// MLDv2 record types (RFC 3810 §5.2.12).
const (
	MLDv2ModeIsInclude   MLDv2RecordType = 1 // current state: INCLUDE
	MLDv2ModeIsExclude   MLDv2RecordType = 2 // current state: EXCLUDE
	MLDv2ChangeToInclude MLDv2RecordType = 3 // filter mode change
	MLDv2ChangeToExclude MLDv2RecordType = 4 // filter mode change
	MLDv2AllowNewSources MLDv2RecordType = 5 // source list change
	MLDv2BlockOldSources MLDv2RecordType = 6 // source list change
)

// String returns the record type's name in RFC 3810's spelling, or
// "record(N)".
func (t MLDv2RecordType) String() string {
	switch t {
	case MLDv2ModeIsInclude:
		return "MODE_IS_INCLUDE"
	case MLDv2ModeIsExclude:
		return "MODE_IS_EXCLUDE"
	case MLDv2ChangeToInclude:
		return "CHANGE_TO_INCLUDE_MODE"
	case MLDv2ChangeToExclude:
		return "CHANGE_TO_EXCLUDE_MODE"
	case MLDv2AllowNewSources:
		return "ALLOW_NEW_SOURCES"
	case MLDv2BlockOldSources:
		return "BLOCK_OLD_SOURCES"
	}
	return "record(" + strconv.Itoa(int(t)) + ")"
}

// MLDv2RecordIterator walks the multicast address records of an MLDv2
// report. The zero value is an empty iterator.
type MLDv2RecordIterator struct {
	rest []byte
	n    int // records left
	err  error
}

// Next returns the next record, or false after the last one the report
// declares or at a record that runs past the message (then Err reports
// ErrTruncated).
func (it *MLDv2RecordIterator) Next() (MLDv2Record, bool) {
	if it.err != nil || it.n == 0 {
		return nil, false
	}
	if len(it.rest) < MLDv2RecordMinimumSize {
		it.err = ErrTruncated
		return nil, false
	}
	// RFC 3810 §5.2.4: the record holds its sources, then Aux Data Len
	// 32-bit words of auxiliary data.
	size := MLDv2RecordMinimumSize +
		16*int(binary.BigEndian.Uint16(it.rest[mldRecordNumSourcesOff:])) +
		4*int(it.rest[mldRecordAuxLenOff])
	if size > len(it.rest) {
		it.err = ErrTruncated
		return nil, false
	}
	r := MLDv2Record(it.rest[:size:size])
	it.rest = it.rest[size:]
	it.n--
	return r, true
}

// Err returns the error that stopped the iteration, or nil.
func (it *MLDv2RecordIterator) Err() error { return it.err }

// MLDv2Record is a view of one multicast address record of an MLDv2 report
// (RFC 3810 §5.2.4), exactly its bytes, as MLDv2RecordIterator returns it.
type MLDv2Record []byte

// Type returns the Record Type.
func (r MLDv2Record) Type() MLDv2RecordType { return MLDv2RecordType(r[mldRecordTypeOff]) }

// AuxDataLen returns the Aux Data Len field: the length of the auxiliary
// data in 32-bit words (RFC 3810 §5.2.6: zero from MLDv2 listeners).
func (r MLDv2Record) AuxDataLen() uint8 { return r[mldRecordAuxLenOff] }

// NumberOfSources returns the Number of Sources field (RFC 3810 §5.2.7).
func (r MLDv2Record) NumberOfSources() uint16 {
	return binary.BigEndian.Uint16(r[mldRecordNumSourcesOff:])
}

// MulticastAddress returns the address the record is about (RFC 3810
// §5.2.8).
func (r MLDv2Record) MulticastAddress() netip.Addr { return mldAddr(r, mldRecordAddrOff) }

// Sources returns an iterator over the source addresses.
func (r MLDv2Record) Sources() MLDSourceIterator {
	if len(r) < MLDv2RecordMinimumSize {
		return MLDSourceIterator{}
	}
	return MLDSourceIterator{rest: r[mldRecordSourcesOff:], n: int(r.NumberOfSources())}
}

// AuxData returns the auxiliary data (RFC 3810 §5.2.10: receivers ignore
// it), or nil if the record is shorter than its fields declare.
func (r MLDv2Record) AuxData() []byte {
	off := mldRecordSourcesOff + 16*int(r.NumberOfSources())
	end := off + 4*int(r.AuxDataLen())
	if end > len(r) {
		return nil
	}
	return r[off:end]
}

// SetSource sets the i-th source address of a record built with
// MLDv2RecordFields.Encode.
func (r MLDv2Record) SetSource(i int, a netip.Addr) { mldPutAddr(r, mldRecordSourcesOff+16*i, a) }

// Fields returns the decoded fixed part of the record. The sources and the
// auxiliary data are not part of it.
func (r MLDv2Record) Fields() MLDv2RecordFields {
	return MLDv2RecordFields{
		Type:             r.Type(),
		AuxDataLen:       r.AuxDataLen(),
		NumberOfSources:  r.NumberOfSources(),
		MulticastAddress: r.MulticastAddress(),
	}
}

// MLDv2RecordFields is an MLDv2 multicast address record to encode
// (RFC 3810 §5.2.4). Encode writes the fixed part and leaves room, zeroed,
// for NumberOfSources sources (set them with MLDv2Record.SetSource) and
// AuxDataLen words of auxiliary data (fill them through AuxData).
type MLDv2RecordFields struct {
	Type             MLDv2RecordType
	AuxDataLen       uint8 // in 32-bit words; zero from MLDv2 listeners
	NumberOfSources  uint16
	MulticastAddress netip.Addr // an IPv6 address
}

// Size returns the size of the record: 20 bytes, 16 per source and 4 per
// word of auxiliary data.
func (f *MLDv2RecordFields) Size() int {
	return MLDv2RecordMinimumSize + 16*int(f.NumberOfSources) + 4*int(f.AuxDataLen)
}

// Encode writes the record at the start of b and returns it as a view of
// Size bytes.
func (f *MLDv2RecordFields) Encode(b []byte) MLDv2Record {
	b = b[:f.Size()]
	clear(b)
	b[mldRecordTypeOff] = byte(f.Type)
	b[mldRecordAuxLenOff] = f.AuxDataLen
	binary.BigEndian.PutUint16(b[mldRecordNumSourcesOff:], f.NumberOfSources)
	mldPutAddr(b, mldRecordAddrOff, f.MulticastAddress)
	return MLDv2Record(b)
}
