package header

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// IGMP is a view of an IGMP message of the 8-byte format shared by all
// versions (RFC 2236 §2, RFC 3376 §4): type, max response code, checksum
// and group address. It covers version 1 and 2 queries, reports and leaves;
// an IGMPv3 query (RFC 3376 §4.1) extends this format and has its own view,
// IGMPv3Query, and an IGMPv3 report (RFC 3376 §4.2) has another,
// IGMPv3Report. The checksum covers the whole message (RFC 3376 §4.1.2).
type IGMP []byte

// Sizes of IGMP messages.
const (
	// IGMPMinimumSize is the size of the IGMPv1/v2 message format, and
	// the smallest IGMP message.
	IGMPMinimumSize = 8
	// IGMPv3QueryMinimumSize is the size of an IGMPv3 query without
	// sources (RFC 3376 §4.1).
	IGMPv3QueryMinimumSize = 12
	// IGMPv3ReportMinimumSize is the size of an IGMPv3 report header,
	// before its group records (RFC 3376 §4.2).
	IGMPv3ReportMinimumSize = 8
	// IGMPv3GroupRecordMinimumSize is the size of a group record without
	// sources or auxiliary data (RFC 3376 §4.2.4).
	IGMPv3GroupRecordMinimumSize = 8
)

const (
	igmpTypeOff        = 0
	igmpMaxRespCodeOff = 1
	igmpChecksumOff    = 2
	igmpGroupOff       = 4
	// IGMPv3 query (RFC 3376 §4.1).
	igmpQueryFlagsOff      = 8 // Resv (4 bits), S (1), QRV (3)
	igmpQueryQQICOff       = 9
	igmpQueryNumSourcesOff = 10
	igmpQuerySourcesOff    = 12
	igmpQuerySFlag         = 0x08
	igmpQueryQRVMask       = 0x07
	// IGMPv3 report (RFC 3376 §4.2).
	igmpReportNumRecordsOff = 6
	// IGMPv3 group record (RFC 3376 §4.2.4).
	igmpRecordTypeOff       = 0
	igmpRecordAuxLenOff     = 1
	igmpRecordNumSourcesOff = 2
	igmpRecordGroupOff      = 4
	igmpRecordSourcesOff    = 8
)

// IGMPType is the Type field of an IGMP message.
type IGMPType uint8

// IGMP message types (RFC 3376 §4, RFC 2236 §2.1).
const (
	IGMPMembershipQuery    IGMPType = 0x11 // every version
	IGMPv1MembershipReport IGMPType = 0x12 // RFC 1112 Appendix I
	IGMPv2MembershipReport IGMPType = 0x16 // RFC 2236 §2.1
	IGMPLeaveGroup         IGMPType = 0x17 // RFC 2236 §2.1
	IGMPv3MembershipReport IGMPType = 0x22 // RFC 3376 §4.2
)

// String returns the type's name, or "type(N)" for a type without one.
func (t IGMPType) String() string {
	switch t {
	case IGMPMembershipQuery:
		return "membership query"
	case IGMPv1MembershipReport:
		return "v1 membership report"
	case IGMPv2MembershipReport:
		return "v2 membership report"
	case IGMPLeaveGroup:
		return "leave group"
	case IGMPv3MembershipReport:
		return "v3 membership report"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// igmpChecksum returns the checksum field value for msg, its Checksum field (at
// off) counted as zero.
func igmpChecksum(msg []byte, off int) uint16 {
	sum := Checksum(msg[:off], 0)
	return ^Checksum(msg[off+2:], sum)
}

// ParseIGMP returns b as an IGMP view if it holds at least IGMPMinimumSize
// bytes (ErrTruncated otherwise). RFC 3376 §7.2.1 and RFC 2236 §2 have
// receivers accept messages longer than their type needs, so the whole of
// b is the message: the IP layer passes exactly its payload. The checksum is
// not verified (see IsChecksumValid).
func ParseIGMP(b []byte) (IGMP, error) {
	if len(b) < IGMPMinimumSize {
		return nil, ErrTruncated
	}
	return IGMP(b), nil
}

// Type returns the message type.
func (b IGMP) Type() IGMPType { return IGMPType(b[igmpTypeOff]) }

// MaxRespCode returns the Max Resp Code field (Max Response Time in IGMPv2,
// unused and zero in IGMPv1 messages and in reports).
func (b IGMP) MaxRespCode() uint8 { return b[igmpMaxRespCodeOff] }

// MaxRespTime returns the Max Response Time of an IGMPv2 query: the Max
// Resp Code in units of 1/10 second (RFC 2236 §2.2). For an IGMPv3 query,
// whose codes from 128 up are floating-point, use IGMPv3Query.MaxRespTime.
// An IGMPv1 query has zero here, which RFC 2236 §4 has hosts treat as 10
// seconds.
func (b IGMP) MaxRespTime() time.Duration {
	return time.Duration(b.MaxRespCode()) * 100 * time.Millisecond
}

// Checksum returns the Checksum field.
func (b IGMP) Checksum() uint16 { return binary.BigEndian.Uint16(b[igmpChecksumOff:]) }

// GroupAddress returns the Group Address: the group being queried (the
// unspecified address in a general query), reported or left (RFC 2236
// §2.4).
func (b IGMP) GroupAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(b[igmpGroupOff : igmpGroupOff+4]))
}

// QueryVersion returns the IGMP version of a Membership Query, told by its
// length and Max Resp Code as RFC 3376 §7.1 says: 8 octets and a zero code
// is IGMPv1, 8 octets and a non-zero code IGMPv2, 12 octets or more IGMPv3.
// It returns 0 for a message that is not a query, and for a query of 9 to
// 11 octets, which RFC 3376 §7.1 has receivers silently ignore.
func (b IGMP) QueryVersion() int {
	if b.Type() != IGMPMembershipQuery {
		return 0
	}
	switch {
	case len(b) == IGMPMinimumSize && b.MaxRespCode() == 0:
		return 1
	case len(b) == IGMPMinimumSize:
		return 2
	case len(b) >= IGMPv3QueryMinimumSize:
		return 3
	}
	return 0
}

// SetChecksum sets the Checksum field.
func (b IGMP) SetChecksum(xsum uint16) { binary.BigEndian.PutUint16(b[igmpChecksumOff:], xsum) }

// CalculateChecksum returns the value for the Checksum field: the
// complement of the one's-complement sum of the whole message, the Checksum
// field counted as zero (RFC 2236 §2.3, RFC 3376 §4.1.2).
func (b IGMP) CalculateChecksum() uint16 { return igmpChecksum(b, igmpChecksumOff) }

// IsChecksumValid reports whether the Checksum field matches the message.
func (b IGMP) IsChecksumValid() bool { return Checksum(b, 0) == 0xffff }

// Fields returns the decoded message.
func (b IGMP) Fields() IGMPFields {
	return IGMPFields{
		Type:         b.Type(),
		MaxRespTime:  b.MaxRespTime(),
		Checksum:     b.Checksum(),
		GroupAddress: b.GroupAddress(),
	}
}

// IGMPFields is an IGMPv1 or IGMPv2 message to encode (RFC 2236 §2).
// Checksum is written as given: compute it with CalculateChecksum and store
// it with SetChecksum.
type IGMPFields struct {
	Type IGMPType
	// MaxRespTime is written in units of 1/10 second, truncated, and
	// clamped to 25.5 seconds (RFC 2236 §2.2). Reports and leaves carry
	// zero.
	MaxRespTime  time.Duration
	Checksum     uint16
	GroupAddress netip.Addr // an IPv4 address, or the zero Addr for 0.0.0.0
}

// Encode writes the message at the start of b and returns it as a view of
// IGMPMinimumSize bytes.
func (f *IGMPFields) Encode(b []byte) IGMP {
	b = b[:IGMPMinimumSize]
	b[igmpTypeOff] = byte(f.Type)
	b[igmpMaxRespCodeOff] = byte(ndpDurationUnits(f.MaxRespTime, 100*time.Millisecond, math.MaxUint8))
	binary.BigEndian.PutUint16(b[igmpChecksumOff:], f.Checksum)
	igmpPutAddr(b, igmpGroupOff, f.GroupAddress)
	return IGMP(b)
}

// igmpPutAddr writes the IPv4 address a at off, or zeros if a is not IPv4.
func igmpPutAddr(b []byte, off int, a netip.Addr) {
	var a4 [4]byte
	if a.Is4() {
		a4 = a.As4()
	}
	copy(b[off:off+4], a4[:])
}

// igmpDecodeFloat decodes an 8-bit code in the floating-point form of
// RFC 3376 §4.1.1 and §4.1.7 (and RFC 3810 §5.1.9): below 128 the code is
// the value; from 128 up it is 1|exp(3)|mant(4), the value (mant | 0x10)
// << (exp + 3).
func igmpDecodeFloat(code uint8) uint32 {
	if code < 0x80 {
		return uint32(code)
	}
	exp := (code >> 4) & 0x7
	mant := code & 0xf
	return uint32(mant|0x10) << (exp + 3)
}

// igmpEncodeFloat returns the code whose value is the largest not above v
// (the inverse of igmpDecodeFloat on the values it yields), clamped to the
// largest code.
func igmpEncodeFloat(v uint64) uint8 {
	if v < 0x80 {
		return uint8(v)
	}
	for exp := range uint8(8) {
		// Values with this exponent run from 0x10<<(exp+3) to
		// 0x1f<<(exp+3).
		if m := v >> (exp + 3); m <= 0x1f {
			return 0x80 | exp<<4 | uint8(m&0xf)
		}
	}
	return 0xff
}

// IGMPv3Query is a view of an IGMPv3 Membership Query (RFC 3376 §4.1).
type IGMPv3Query []byte

// ParseIGMPv3Query returns b as an IGMPv3 query view after checking that it
// holds the 12-byte fixed part and the sources its Number of Sources
// declares (ErrTruncated otherwise). Bytes after the sources are allowed
// (RFC 3376 §7.1: a query of 12 octets or more is IGMPv3). Call it on a
// message whose QueryVersion is 3.
func ParseIGMPv3Query(b []byte) (IGMPv3Query, error) {
	if len(b) < IGMPv3QueryMinimumSize {
		return nil, ErrTruncated
	}
	n := int(binary.BigEndian.Uint16(b[igmpQueryNumSourcesOff:]))
	if len(b) < IGMPv3QueryMinimumSize+4*n {
		return nil, ErrTruncated
	}
	return IGMPv3Query(b), nil
}

// Type returns the message type (IGMPMembershipQuery).
func (b IGMPv3Query) Type() IGMPType { return IGMPType(b[igmpTypeOff]) }

// MaxRespCode returns the Max Resp Code field (RFC 3376 §4.1.1).
func (b IGMPv3Query) MaxRespCode() uint8 { return b[igmpMaxRespCodeOff] }

// MaxRespTime returns the longest time a host may wait before reporting:
// the Max Resp Code decoded as RFC 3376 §4.1.1 says (below 128 in units of
// 1/10 second, from 128 up a floating-point value in the same unit, at most
// 3174.4 seconds).
func (b IGMPv3Query) MaxRespTime() time.Duration {
	return time.Duration(igmpDecodeFloat(b.MaxRespCode())) * 100 * time.Millisecond
}

// Checksum returns the Checksum field.
func (b IGMPv3Query) Checksum() uint16 { return binary.BigEndian.Uint16(b[igmpChecksumOff:]) }

// GroupAddress returns the group queried: the unspecified address in a
// general query (RFC 3376 §4.1.3).
func (b IGMPv3Query) GroupAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(b[igmpGroupOff : igmpGroupOff+4]))
}

// SuppressRouterProcessing reports the S flag: other routers must not
// update their timers on hearing the query (RFC 3376 §4.1.5).
func (b IGMPv3Query) SuppressRouterProcessing() bool {
	return b[igmpQueryFlagsOff]&igmpQuerySFlag != 0
}

// QRV returns the Querier's Robustness Variable, 0 if it exceeds 7
// (RFC 3376 §4.1.6).
func (b IGMPv3Query) QRV() uint8 { return b[igmpQueryFlagsOff] & igmpQueryQRVMask }

// QQIC returns the Querier's Query Interval Code field (RFC 3376 §4.1.7).
func (b IGMPv3Query) QQIC() uint8 { return b[igmpQueryQQICOff] }

// QueryInterval returns the Querier's Query Interval: QQIC decoded as
// RFC 3376 §4.1.7 says (below 128 in seconds, from 128 up a floating-point
// value in seconds, at most 31744 seconds).
func (b IGMPv3Query) QueryInterval() time.Duration {
	return time.Duration(igmpDecodeFloat(b.QQIC())) * time.Second
}

// NumberOfSources returns the Number of Sources field (RFC 3376 §4.1.8).
func (b IGMPv3Query) NumberOfSources() uint16 {
	return binary.BigEndian.Uint16(b[igmpQueryNumSourcesOff:])
}

// Sources returns an iterator over the source addresses (RFC 3376 §4.1.9).
func (b IGMPv3Query) Sources() IGMPSourceIterator {
	if len(b) < IGMPv3QueryMinimumSize {
		return IGMPSourceIterator{}
	}
	return IGMPSourceIterator{rest: b[igmpQuerySourcesOff:], n: int(b.NumberOfSources())}
}

// SetSource sets the i-th source address (an IPv4 address) of a query built
// with IGMPv3QueryFields.Encode. The checksum is not updated.
func (b IGMPv3Query) SetSource(i int, a netip.Addr) {
	igmpPutAddr(b, igmpQuerySourcesOff+4*i, a)
}

// SetChecksum sets the Checksum field.
func (b IGMPv3Query) SetChecksum(xsum uint16) {
	binary.BigEndian.PutUint16(b[igmpChecksumOff:], xsum)
}

// CalculateChecksum returns the value for the Checksum field: the
// complement of the one's-complement sum of the whole message, the Checksum
// field counted as zero (RFC 3376 §4.1.2).
func (b IGMPv3Query) CalculateChecksum() uint16 { return igmpChecksum(b, igmpChecksumOff) }

// IsChecksumValid reports whether the Checksum field matches the message.
func (b IGMPv3Query) IsChecksumValid() bool { return Checksum(b, 0) == 0xffff }

// Fields returns the decoded fixed part of the query. The sources are not
// part of it: walk them with Sources.
func (b IGMPv3Query) Fields() IGMPv3QueryFields {
	return IGMPv3QueryFields{
		MaxRespTime:              b.MaxRespTime(),
		Checksum:                 b.Checksum(),
		GroupAddress:             b.GroupAddress(),
		SuppressRouterProcessing: b.SuppressRouterProcessing(),
		QRV:                      b.QRV(),
		QueryInterval:            b.QueryInterval(),
		NumberOfSources:          b.NumberOfSources(),
	}
}

// IGMPv3QueryFields is an IGMPv3 Membership Query to encode (RFC 3376
// §4.1). Encode writes the fixed part and leaves room for NumberOfSources
// sources, which the caller sets with IGMPv3Query.SetSource.
type IGMPv3QueryFields struct {
	// MaxRespTime is written as the Max Resp Code of RFC 3376 §4.1.1:
	// the largest code not above it (in units of 1/10 second), clamped
	// to 3174.4 seconds.
	MaxRespTime              time.Duration
	Checksum                 uint16
	GroupAddress             netip.Addr // IPv4, or the zero Addr for a general query
	SuppressRouterProcessing bool
	QRV                      uint8 // 0 to 7; 0 if the robustness variable exceeds 7
	// QueryInterval is written as the QQIC of RFC 3376 §4.1.7, rounded
	// down to a representable number of seconds, clamped to 31744 s.
	QueryInterval   time.Duration
	NumberOfSources uint16
}

// Size returns the size of the query: 12 bytes and 4 per source.
func (f *IGMPv3QueryFields) Size() int {
	return IGMPv3QueryMinimumSize + 4*int(f.NumberOfSources)
}

// Encode writes the query at the start of b, its sources zero, and returns
// it as a view of Size bytes.
func (f *IGMPv3QueryFields) Encode(b []byte) IGMPv3Query {
	b = b[:f.Size()]
	b[igmpTypeOff] = byte(IGMPMembershipQuery)
	b[igmpMaxRespCodeOff] = igmpEncodeFloat(ndpDurationUnits(f.MaxRespTime, 100*time.Millisecond, math.MaxUint32))
	binary.BigEndian.PutUint16(b[igmpChecksumOff:], f.Checksum)
	igmpPutAddr(b, igmpGroupOff, f.GroupAddress)
	flags := f.QRV & igmpQueryQRVMask
	if f.SuppressRouterProcessing {
		flags |= igmpQuerySFlag
	}
	b[igmpQueryFlagsOff] = flags
	b[igmpQueryQQICOff] = igmpEncodeFloat(ndpDurationUnits(f.QueryInterval, time.Second, math.MaxUint32))
	binary.BigEndian.PutUint16(b[igmpQueryNumSourcesOff:], f.NumberOfSources)
	clear(b[igmpQuerySourcesOff:])
	return IGMPv3Query(b)
}

// IGMPSourceIterator walks the IPv4 source addresses of an IGMPv3 query or
// group record. The zero value is an empty iterator.
type IGMPSourceIterator struct {
	rest []byte
	n    int // sources left
	err  error
}

// Next returns the next source address, or false after the last one or if
// the message ends early (then Err reports ErrTruncated; views from the
// Parse functions never do).
func (it *IGMPSourceIterator) Next() (netip.Addr, bool) {
	if it.err != nil || it.n == 0 {
		return netip.Addr{}, false
	}
	if len(it.rest) < 4 {
		it.err = ErrTruncated
		return netip.Addr{}, false
	}
	a := netip.AddrFrom4([4]byte(it.rest[:4]))
	it.rest = it.rest[4:]
	it.n--
	return a, true
}

// Err returns the error that stopped the iteration, or nil.
func (it *IGMPSourceIterator) Err() error { return it.err }

// IGMPv3Report is a view of an IGMPv3 Membership Report (RFC 3376 §4.2).
type IGMPv3Report []byte

// ParseIGMPv3Report returns b as an IGMPv3 report view after checking that
// it holds the 8-byte header and every group record its Number of Group
// Records declares, each with its sources and auxiliary data (ErrTruncated
// otherwise). Bytes after the last record are allowed.
func ParseIGMPv3Report(b []byte) (IGMPv3Report, error) {
	if len(b) < IGMPv3ReportMinimumSize {
		return nil, ErrTruncated
	}
	it := IGMPv3Report(b).GroupRecords()
	for _, ok := it.Next(); ok; _, ok = it.Next() {
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return IGMPv3Report(b), nil
}

// Type returns the message type (IGMPv3MembershipReport).
func (b IGMPv3Report) Type() IGMPType { return IGMPType(b[igmpTypeOff]) }

// Checksum returns the Checksum field.
func (b IGMPv3Report) Checksum() uint16 { return binary.BigEndian.Uint16(b[igmpChecksumOff:]) }

// NumberOfGroupRecords returns the Number of Group Records field
// (RFC 3376 §4.2.3).
func (b IGMPv3Report) NumberOfGroupRecords() uint16 {
	return binary.BigEndian.Uint16(b[igmpReportNumRecordsOff:])
}

// GroupRecords returns an iterator over the group records.
func (b IGMPv3Report) GroupRecords() IGMPv3GroupRecordIterator {
	if len(b) < IGMPv3ReportMinimumSize {
		return IGMPv3GroupRecordIterator{}
	}
	return IGMPv3GroupRecordIterator{rest: b[IGMPv3ReportMinimumSize:], n: int(b.NumberOfGroupRecords())}
}

// SetChecksum sets the Checksum field.
func (b IGMPv3Report) SetChecksum(xsum uint16) {
	binary.BigEndian.PutUint16(b[igmpChecksumOff:], xsum)
}

// CalculateChecksum returns the value for the Checksum field: the
// complement of the one's-complement sum of the whole message, the Checksum
// field counted as zero (RFC 3376 §4.2.2).
func (b IGMPv3Report) CalculateChecksum() uint16 { return igmpChecksum(b, igmpChecksumOff) }

// IsChecksumValid reports whether the Checksum field matches the message.
func (b IGMPv3Report) IsChecksumValid() bool { return Checksum(b, 0) == 0xffff }

// Fields returns the decoded header of the report.
func (b IGMPv3Report) Fields() IGMPv3ReportFields {
	return IGMPv3ReportFields{Checksum: b.Checksum(), NumberOfGroupRecords: b.NumberOfGroupRecords()}
}

// IGMPv3ReportFields is the header of an IGMPv3 Membership Report to encode
// (RFC 3376 §4.2). The group records follow it: encode them one after the
// other with IGMPv3GroupRecordFields.Encode into the view's Records.
type IGMPv3ReportFields struct {
	Checksum             uint16
	NumberOfGroupRecords uint16
}

// Encode writes the report header at the start of b and returns all of b as
// a view: pass the whole message (header then records) to compute its
// checksum with the view.
func (f *IGMPv3ReportFields) Encode(b []byte) IGMPv3Report {
	h := b[:IGMPv3ReportMinimumSize]
	h[igmpTypeOff] = byte(IGMPv3MembershipReport)
	h[1] = 0 // Reserved
	binary.BigEndian.PutUint16(h[igmpChecksumOff:], f.Checksum)
	binary.BigEndian.PutUint16(h[4:], 0) // Reserved
	binary.BigEndian.PutUint16(h[igmpReportNumRecordsOff:], f.NumberOfGroupRecords)
	return IGMPv3Report(b)
}

// Records returns the bytes after the report header, where the group
// records are.
func (b IGMPv3Report) Records() []byte { return b[IGMPv3ReportMinimumSize:] }

// IGMPv3RecordType is the Record Type of an IGMPv3 group record (RFC 3376
// §4.2.12).
type IGMPv3RecordType uint8

// IGMPv3 group record types (RFC 3376 §4.2.12).
const (
	IGMPv3ModeIsInclude   IGMPv3RecordType = 1 // current state: INCLUDE
	IGMPv3ModeIsExclude   IGMPv3RecordType = 2 // current state: EXCLUDE
	IGMPv3ChangeToInclude IGMPv3RecordType = 3 // filter mode change
	IGMPv3ChangeToExclude IGMPv3RecordType = 4 // filter mode change
	IGMPv3AllowNewSources IGMPv3RecordType = 5 // source list change
	IGMPv3BlockOldSources IGMPv3RecordType = 6 // source list change
)

// String returns the record type's name in RFC 3376's spelling, or
// "record(N)".
func (t IGMPv3RecordType) String() string {
	switch t {
	case IGMPv3ModeIsInclude:
		return "MODE_IS_INCLUDE"
	case IGMPv3ModeIsExclude:
		return "MODE_IS_EXCLUDE"
	case IGMPv3ChangeToInclude:
		return "CHANGE_TO_INCLUDE_MODE"
	case IGMPv3ChangeToExclude:
		return "CHANGE_TO_EXCLUDE_MODE"
	case IGMPv3AllowNewSources:
		return "ALLOW_NEW_SOURCES"
	case IGMPv3BlockOldSources:
		return "BLOCK_OLD_SOURCES"
	}
	return "record(" + strconv.Itoa(int(t)) + ")"
}

// IGMPv3GroupRecordIterator walks the group records of an IGMPv3 report.
// The zero value is an empty iterator.
type IGMPv3GroupRecordIterator struct {
	rest []byte
	n    int // records left
	err  error
}

// Next returns the next group record, or false after the last one the
// report declares or at a record that runs past the message (then Err
// reports ErrTruncated).
func (it *IGMPv3GroupRecordIterator) Next() (IGMPv3GroupRecord, bool) {
	if it.err != nil || it.n == 0 {
		return nil, false
	}
	if len(it.rest) < IGMPv3GroupRecordMinimumSize {
		it.err = ErrTruncated
		return nil, false
	}
	// RFC 3376 §4.2.4: the record holds its sources, then Aux Data Len
	// 32-bit words of auxiliary data.
	size := IGMPv3GroupRecordMinimumSize +
		4*int(binary.BigEndian.Uint16(it.rest[igmpRecordNumSourcesOff:])) +
		4*int(it.rest[igmpRecordAuxLenOff])
	if size > len(it.rest) {
		it.err = ErrTruncated
		return nil, false
	}
	r := IGMPv3GroupRecord(it.rest[:size:size])
	it.rest = it.rest[size:]
	it.n--
	return r, true
}

// Err returns the error that stopped the iteration, or nil.
func (it *IGMPv3GroupRecordIterator) Err() error { return it.err }

// IGMPv3GroupRecord is a view of one group record of an IGMPv3 report
// (RFC 3376 §4.2.4), exactly its bytes, as IGMPv3GroupRecordIterator
// returns it.
type IGMPv3GroupRecord []byte

// Type returns the Record Type.
func (r IGMPv3GroupRecord) Type() IGMPv3RecordType { return IGMPv3RecordType(r[igmpRecordTypeOff]) }

// AuxDataLen returns the Aux Data Len field: the length of the auxiliary
// data in 32-bit words (RFC 3376 §4.2.6: zero from IGMPv3 hosts).
func (r IGMPv3GroupRecord) AuxDataLen() uint8 { return r[igmpRecordAuxLenOff] }

// NumberOfSources returns the Number of Sources field (RFC 3376 §4.2.7).
func (r IGMPv3GroupRecord) NumberOfSources() uint16 {
	return binary.BigEndian.Uint16(r[igmpRecordNumSourcesOff:])
}

// MulticastAddress returns the group the record is about (RFC 3376 §4.2.8).
func (r IGMPv3GroupRecord) MulticastAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(r[igmpRecordGroupOff : igmpRecordGroupOff+4]))
}

// Sources returns an iterator over the source addresses.
func (r IGMPv3GroupRecord) Sources() IGMPSourceIterator {
	if len(r) < IGMPv3GroupRecordMinimumSize {
		return IGMPSourceIterator{}
	}
	return IGMPSourceIterator{rest: r[igmpRecordSourcesOff:], n: int(r.NumberOfSources())}
}

// AuxData returns the auxiliary data (RFC 3376 §4.2.10: receivers ignore
// it), or nil if the record is shorter than its fields declare.
func (r IGMPv3GroupRecord) AuxData() []byte {
	off := igmpRecordSourcesOff + 4*int(r.NumberOfSources())
	end := off + 4*int(r.AuxDataLen())
	if end > len(r) {
		return nil
	}
	return r[off:end]
}

// SetSource sets the i-th source address (an IPv4 address) of a record
// built with IGMPv3GroupRecordFields.Encode.
func (r IGMPv3GroupRecord) SetSource(i int, a netip.Addr) {
	igmpPutAddr(r, igmpRecordSourcesOff+4*i, a)
}

// Fields returns the decoded fixed part of the record. The sources and
// the auxiliary data are not part of it.
func (r IGMPv3GroupRecord) Fields() IGMPv3GroupRecordFields {
	return IGMPv3GroupRecordFields{
		Type:             r.Type(),
		AuxDataLen:       r.AuxDataLen(),
		NumberOfSources:  r.NumberOfSources(),
		MulticastAddress: r.MulticastAddress(),
	}
}

// IGMPv3GroupRecordFields is an IGMPv3 group record to encode (RFC 3376
// §4.2.4). Encode writes the fixed part and leaves room, zeroed, for
// NumberOfSources sources (set them with IGMPv3GroupRecord.SetSource) and
// AuxDataLen words of auxiliary data (fill them through AuxData).
type IGMPv3GroupRecordFields struct {
	Type             IGMPv3RecordType
	AuxDataLen       uint8 // in 32-bit words; zero from IGMPv3 hosts
	NumberOfSources  uint16
	MulticastAddress netip.Addr // an IPv4 address
}

// Size returns the size of the record: 8 bytes, 4 per source and 4 per
// word of auxiliary data.
func (f *IGMPv3GroupRecordFields) Size() int {
	return IGMPv3GroupRecordMinimumSize + 4*int(f.NumberOfSources) + 4*int(f.AuxDataLen)
}

// Encode writes the record at the start of b and returns it as a view of
// Size bytes.
func (f *IGMPv3GroupRecordFields) Encode(b []byte) IGMPv3GroupRecord {
	b = b[:f.Size()]
	clear(b)
	b[igmpRecordTypeOff] = byte(f.Type)
	b[igmpRecordAuxLenOff] = f.AuxDataLen
	binary.BigEndian.PutUint16(b[igmpRecordNumSourcesOff:], f.NumberOfSources)
	igmpPutAddr(b, igmpRecordGroupOff, f.MulticastAddress)
	return IGMPv3GroupRecord(b)
}
