package header

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/ustack-go/ustack/tcpip"
)

// ARP is a view of an ARP packet (RFC 826) for IPv4 over Ethernet: hardware
// type 1, protocol type 0x0800, 6-byte hardware and 4-byte protocol
// addresses. ParseARP rejects every other combination, so the accessors can
// use fixed offsets.
type ARP []byte

// ARPSize is the size of an Ethernet/IPv4 ARP packet. On Ethernet it is
// followed by padding up to EthernetMinimumFrameSize, which ParseARP drops.
const ARPSize = 28

// ARPHardwareEthernet is the ARP hardware type of Ethernet (RFC 826 ar$hrd;
// IANA "Hardware Types": 1, Ethernet (10Mb)).
const ARPHardwareEthernet = 1

// The fixed part of every ARP packet (RFC 826 "Packet format").
const (
	arpHardwareType = 0
	arpProtocolType = 2
	arpHardwareLen  = 4
	arpProtocolLen  = 5
	arpOp           = 6
	arpFixedSize    = 8
)

// The addresses, at offsets that hold for hardware length 6 and protocol
// length 4 only.
const (
	arpSenderHardware = 8
	arpSenderProtocol = 14
	arpTargetHardware = 18
	arpTargetProtocol = 24
)

// ARPOp is an ARP opcode (RFC 826 ar$op; IANA "ARP Operation Codes").
type ARPOp uint16

// ARP opcodes of RFC 826. Other values (RARP, InARP, …) are left to the
// caller: ParseARP does not reject them.
const (
	ARPRequest ARPOp = 1
	ARPReply   ARPOp = 2
)

// String returns "request", "reply" or "op(N)".
func (o ARPOp) String() string {
	switch o {
	case ARPRequest:
		return "request"
	case ARPReply:
		return "reply"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// ParseARP returns the first ARPSize bytes of b as an ARP view. It returns
// ErrTruncated if b ends before the fixed part or before the addresses, and
// ErrUnsupported for a hardware type, protocol type or address length other
// than Ethernet and IPv4. The opcode is not checked.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < arpFixedSize {
		return nil, ErrTruncated
	}
	// RFC 826 "Packet Reception": a packet whose ar$hrd or ar$pro this
	// host does not speak is discarded; we speak only Ethernet/IPv4, and
	// the lengths are implied by those two (but checked, since they
	// decide where the fields are).
	if binary.BigEndian.Uint16(b[arpHardwareType:]) != ARPHardwareEthernet ||
		binary.BigEndian.Uint16(b[arpProtocolType:]) != uint16(tcpip.IPv4ProtocolNumber) ||
		b[arpHardwareLen] != 6 || b[arpProtocolLen] != 4 {
		return nil, ErrUnsupported
	}
	if len(b) < ARPSize {
		return nil, ErrTruncated
	}
	return ARP(b[:ARPSize]), nil
}

// HardwareType returns ar$hrd, always ARPHardwareEthernet after ParseARP.
func (b ARP) HardwareType() uint16 { return binary.BigEndian.Uint16(b[arpHardwareType:]) }

// ProtocolType returns ar$pro, always tcpip.IPv4ProtocolNumber after ParseARP.
func (b ARP) ProtocolType() tcpip.NetworkProtocolNumber {
	return tcpip.NetworkProtocolNumber(binary.BigEndian.Uint16(b[arpProtocolType:]))
}

// Op returns the opcode.
func (b ARP) Op() ARPOp { return ARPOp(binary.BigEndian.Uint16(b[arpOp:])) }

// SenderHardwareAddress returns ar$sha.
func (b ARP) SenderHardwareAddress() tcpip.LinkAddress {
	return tcpip.LinkAddress(b[arpSenderHardware:arpSenderProtocol])
}

// SenderProtocolAddress returns ar$spa.
func (b ARP) SenderProtocolAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(b[arpSenderProtocol:arpTargetHardware]))
}

// TargetHardwareAddress returns ar$tha (all zeros in a request from Linux).
func (b ARP) TargetHardwareAddress() tcpip.LinkAddress {
	return tcpip.LinkAddress(b[arpTargetHardware:arpTargetProtocol])
}

// TargetProtocolAddress returns ar$tpa.
func (b ARP) TargetProtocolAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(b[arpTargetProtocol:ARPSize]))
}

// IsGratuitous reports whether the sender announces its own binding: the
// sender and target protocol addresses are the same (RFC 5227 §3, an "ARP
// Announcement"; RFC 5944 §4.6 "gratuitous ARP"). Either opcode qualifies.
func (b ARP) IsGratuitous() bool {
	return b.SenderProtocolAddress() == b.TargetProtocolAddress()
}

// IsProbe reports whether b is an address-conflict probe (RFC 5227 §2.1.1):
// a request from sender protocol address 0.0.0.0. Its target protocol
// address is the address being probed.
func (b ARP) IsProbe() bool {
	return b.Op() == ARPRequest && b.SenderProtocolAddress() == netip.IPv4Unspecified()
}

// Fields returns the decoded packet.
func (b ARP) Fields() ARPFields {
	return ARPFields{
		Op:                    b.Op(),
		SenderHardwareAddress: b.SenderHardwareAddress(),
		SenderProtocolAddress: b.SenderProtocolAddress(),
		TargetHardwareAddress: b.TargetHardwareAddress(),
		TargetProtocolAddress: b.TargetProtocolAddress(),
	}
}

// ARPFields is an Ethernet/IPv4 ARP packet to encode.
type ARPFields struct {
	Op                    ARPOp
	SenderHardwareAddress tcpip.LinkAddress
	// SenderProtocolAddress is an IPv4 address; the zero Addr encodes as
	// 0.0.0.0 (as in a probe). An IPv6 address panics.
	SenderProtocolAddress netip.Addr
	TargetHardwareAddress tcpip.LinkAddress
	// TargetProtocolAddress is as SenderProtocolAddress.
	TargetProtocolAddress netip.Addr
}

// Encode writes the packet at the start of b, which must hold ARPSize bytes,
// and returns it as a view.
func (f *ARPFields) Encode(b []byte) ARP {
	b = b[:ARPSize]
	binary.BigEndian.PutUint16(b[arpHardwareType:], ARPHardwareEthernet)
	binary.BigEndian.PutUint16(b[arpProtocolType:], uint16(tcpip.IPv4ProtocolNumber))
	b[arpHardwareLen] = 6
	b[arpProtocolLen] = 4
	binary.BigEndian.PutUint16(b[arpOp:], uint16(f.Op))
	copy(b[arpSenderHardware:], f.SenderHardwareAddress[:])
	arpPutAddr(b[arpSenderProtocol:], f.SenderProtocolAddress)
	copy(b[arpTargetHardware:], f.TargetHardwareAddress[:])
	arpPutAddr(b[arpTargetProtocol:], f.TargetProtocolAddress)
	return ARP(b)
}

// arpPutAddr writes a as four bytes, the zero Addr as 0.0.0.0.
func arpPutAddr(b []byte, a netip.Addr) {
	var a4 [4]byte
	if a.IsValid() {
		a4 = a.As4()
	}
	copy(b, a4[:])
}
