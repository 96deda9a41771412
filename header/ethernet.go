package header

import (
	"encoding/binary"

	"github.com/ustack-go/ustack/tcpip"
)

// Ethernet is a view of an Ethernet II frame header (IEEE 802.3 with an
// EtherType), without the frame check sequence. 802.1Q tags are not parsed:
// a tagged frame reports EtherType 0x8100.
type Ethernet []byte

// EthernetMinimumSize is the size of the Ethernet II header.
const EthernetMinimumSize = 14

// EthernetMinimumFrameSize is the smallest frame on the wire without the FCS
// (IEEE 802.3 §4.4.2: 64 bytes with it); shorter frames are padded.
const EthernetMinimumFrameSize = 60

const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12
)

// ParseEthernet returns b as an Ethernet view if it holds a whole header.
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetMinimumSize {
		return nil, ErrTruncated
	}
	return Ethernet(b), nil
}

// Destination returns the destination link address.
func (b Ethernet) Destination() tcpip.LinkAddress { return tcpip.LinkAddress(b[ethDst:ethSrc]) }

// Source returns the source link address.
func (b Ethernet) Source() tcpip.LinkAddress { return tcpip.LinkAddress(b[ethSrc:ethType]) }

// Type returns the EtherType.
func (b Ethernet) Type() tcpip.NetworkProtocolNumber {
	return tcpip.NetworkProtocolNumber(binary.BigEndian.Uint16(b[ethType:]))
}

// Payload returns the bytes after the header.
func (b Ethernet) Payload() []byte { return b[EthernetMinimumSize:] }

// Fields returns the decoded header.
func (b Ethernet) Fields() EthernetFields {
	return EthernetFields{Destination: b.Destination(), Source: b.Source(), Type: b.Type()}
}

// EthernetFields is an Ethernet II header to encode.
type EthernetFields struct {
	Destination tcpip.LinkAddress
	Source      tcpip.LinkAddress
	Type        tcpip.NetworkProtocolNumber
}

// Encode writes the header at the start of b and returns it as a view.
func (f *EthernetFields) Encode(b []byte) Ethernet {
	b = b[:EthernetMinimumSize]
	copy(b[ethDst:], f.Destination[:])
	copy(b[ethSrc:], f.Source[:])
	binary.BigEndian.PutUint16(b[ethType:], uint16(f.Type))
	return Ethernet(b)
}
