package header

import (
	"encoding/binary"
	"strconv"
)

// VirtioNet is a view of the virtio-net packet header (struct
// virtio_net_hdr, VIRTIO 1.2 §5.1.6) that a Linux TUN/TAP device opened
// with IFF_VNET_HDR puts before every packet it hands up and expects before
// every packet written to it. It tells the receiver that the checksum is
// left partial (VirtioNetNeedsCsum) or already verified
// (VirtioNetDataValid), and whether the packet is a TCP or UDP
// super-segment that the receiver is to cut into GSOSize pieces (or keep
// whole, which a stack that accepts large segments may do).
//
// The header is 10 bytes, or 12 when the device was told so
// (TUNSETVNETHDRSZ; the 12-byte form is struct virtio_net_hdr_mrg_rxbuf
// with its NumBuffers field, always 1 on a TAP). Its multi-byte fields are
// little-endian: VIRTIO 1.2 §5.1.6 for modern devices, and ustack asks the
// TUN driver for that order explicitly (TUNSETVNETLE) so that the legacy
// host-order rule does not apply on big-endian hosts.
type VirtioNet []byte

// Sizes of the two forms of the header.
const (
	// VirtioNetSize is the size of struct virtio_net_hdr.
	VirtioNetSize = 10
	// VirtioNetMrgRxbufSize is the size of struct
	// virtio_net_hdr_mrg_rxbuf (the header plus NumBuffers).
	VirtioNetMrgRxbufSize = 12
)

const (
	vnetFlags      = 0
	vnetGSOType    = 1
	vnetHdrLen     = 2
	vnetGSOSize    = 4
	vnetCsumStart  = 6
	vnetCsumOffset = 8
	vnetNumBuffers = 10
)

// VirtioNetFlags is the flags byte of the header.
type VirtioNetFlags uint8

// Flags of VIRTIO 1.2 §5.1.6.
const (
	// VirtioNetNeedsCsum (VIRTIO_NET_HDR_F_NEEDS_CSUM): the transport
	// checksum is partial. The checksum field at CsumStart+CsumOffset
	// holds the pseudo-header sum; the complement of the sum from
	// CsumStart to the end of the packet is to be stored there.
	VirtioNetNeedsCsum VirtioNetFlags = 1
	// VirtioNetDataValid (VIRTIO_NET_HDR_F_DATA_VALID): the checksum has
	// been verified by the sender (only on packets handed up).
	VirtioNetDataValid VirtioNetFlags = 2
	// VirtioNetRSCInfo (VIRTIO_NET_HDR_F_RSC_INFO): coalescing
	// information in CsumStart and CsumOffset (not used by TAP).
	VirtioNetRSCInfo VirtioNetFlags = 4
)

// VirtioNetGSOType is the gso_type byte of the header.
type VirtioNetGSOType uint8

// GSO types of VIRTIO 1.2 §5.1.6.
const (
	// VirtioNetGSONone: an ordinary packet.
	VirtioNetGSONone VirtioNetGSOType = 0
	// VirtioNetGSOTCPv4: a TCP over IPv4 super-segment (TSO).
	VirtioNetGSOTCPv4 VirtioNetGSOType = 1
	// VirtioNetGSOUDP: a UDP datagram to fragment at the IP layer (UFO).
	VirtioNetGSOUDP VirtioNetGSOType = 3
	// VirtioNetGSOTCPv6: a TCP over IPv6 super-segment.
	VirtioNetGSOTCPv6 VirtioNetGSOType = 4
	// VirtioNetGSOUDPL4: UDP segmentation (USO).
	VirtioNetGSOUDPL4 VirtioNetGSOType = 5
	// VirtioNetGSOECN is or'ed with a TCP type when the super-segment
	// has CWR set, which only its first segment is to carry.
	VirtioNetGSOECN VirtioNetGSOType = 0x80
)

// String returns the kernel's name of the type ("tcpv4", "tcpv6|ecn", …)
// or "gso(N)".
func (t VirtioNetGSOType) String() string {
	var s string
	switch t &^ VirtioNetGSOECN {
	case VirtioNetGSONone:
		s = "none"
	case VirtioNetGSOTCPv4:
		s = "tcpv4"
	case VirtioNetGSOUDP:
		s = "udp"
	case VirtioNetGSOTCPv6:
		s = "tcpv6"
	case VirtioNetGSOUDPL4:
		s = "udp_l4"
	default:
		return "gso(" + strconv.Itoa(int(t)) + ")"
	}
	if t&VirtioNetGSOECN != 0 {
		s += "|ecn"
	}
	return s
}

// ParseVirtioNet returns the header of the given size (VirtioNetSize or
// VirtioNetMrgRxbufSize: the device's setting, which the bytes do not
// tell) at the start of b. It returns ErrTruncated if b is shorter and
// ErrUnsupported for another size. It checks no field: the values are
// judged against the packet that follows, by the caller.
func ParseVirtioNet(b []byte, size int) (VirtioNet, error) {
	if size != VirtioNetSize && size != VirtioNetMrgRxbufSize {
		return nil, ErrUnsupported
	}
	if len(b) < size {
		return nil, ErrTruncated
	}
	return VirtioNet(b[:size]), nil
}

// Flags returns the flags byte.
func (b VirtioNet) Flags() VirtioNetFlags { return VirtioNetFlags(b[vnetFlags]) }

// GSOType returns the GSO type, VirtioNetGSOECN included.
func (b VirtioNet) GSOType() VirtioNetGSOType { return VirtioNetGSOType(b[vnetGSOType]) }

// HdrLen returns hdr_len: the length of the link, network and transport
// headers of a GSO packet (a hint; Linux does not rely on it).
func (b VirtioNet) HdrLen() uint16 { return binary.LittleEndian.Uint16(b[vnetHdrLen:]) }

// GSOSize returns gso_size: the payload size of each segment a GSO packet
// is to be cut into (the MSS).
func (b VirtioNet) GSOSize() uint16 { return binary.LittleEndian.Uint16(b[vnetGSOSize:]) }

// CsumStart returns csum_start: where checksumming starts, counted from
// the first byte after this header (the Ethernet header of a TAP frame).
func (b VirtioNet) CsumStart() uint16 { return binary.LittleEndian.Uint16(b[vnetCsumStart:]) }

// CsumOffset returns csum_offset: where the checksum field is, counted
// from CsumStart (16 for TCP, 6 for UDP).
func (b VirtioNet) CsumOffset() uint16 { return binary.LittleEndian.Uint16(b[vnetCsumOffset:]) }

// NumBuffers returns num_buffers of the 12-byte form, 0 for the 10-byte
// form.
func (b VirtioNet) NumBuffers() uint16 {
	if len(b) < VirtioNetMrgRxbufSize {
		return 0
	}
	return binary.LittleEndian.Uint16(b[vnetNumBuffers:])
}

// Fields returns the decoded header.
func (b VirtioNet) Fields() VirtioNetFields {
	return VirtioNetFields{
		Flags:      b.Flags(),
		GSOType:    b.GSOType(),
		HdrLen:     b.HdrLen(),
		GSOSize:    b.GSOSize(),
		CsumStart:  b.CsumStart(),
		CsumOffset: b.CsumOffset(),
		NumBuffers: b.NumBuffers(),
	}
}

// VirtioNetFields is a virtio-net header to encode. The zero value is the
// header of an ordinary packet with a complete checksum.
type VirtioNetFields struct {
	Flags      VirtioNetFlags
	GSOType    VirtioNetGSOType
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
	// NumBuffers is written only in the 12-byte form.
	NumBuffers uint16
}

// Encode writes the header of the given size (VirtioNetSize or
// VirtioNetMrgRxbufSize) at the start of b and returns it as a view. A
// size of neither kind, or a b shorter than size, is a programming error
// and panics.
func (f *VirtioNetFields) Encode(b []byte, size int) VirtioNet {
	if size != VirtioNetSize && size != VirtioNetMrgRxbufSize {
		panic("header: virtio-net header size " + strconv.Itoa(size))
	}
	b = b[:size]
	b[vnetFlags] = byte(f.Flags)
	b[vnetGSOType] = byte(f.GSOType)
	binary.LittleEndian.PutUint16(b[vnetHdrLen:], f.HdrLen)
	binary.LittleEndian.PutUint16(b[vnetGSOSize:], f.GSOSize)
	binary.LittleEndian.PutUint16(b[vnetCsumStart:], f.CsumStart)
	binary.LittleEndian.PutUint16(b[vnetCsumOffset:], f.CsumOffset)
	if size == VirtioNetMrgRxbufSize {
		binary.LittleEndian.PutUint16(b[vnetNumBuffers:], f.NumBuffers)
	}
	return VirtioNet(b)
}
