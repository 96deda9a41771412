package tcpip

import (
	"errors"
	"strconv"
)

// LinkAddress is an IEEE 802 MAC-48 address, stored by value so that it is
// comparable, usable as a map key and free to copy. The zero value means "no
// link address": links without one (TUN devices, loopback) report it.
type LinkAddress [6]byte

// BroadcastLinkAddress is ff:ff:ff:ff:ff:ff.
var BroadcastLinkAddress = LinkAddress{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsZero reports whether a is the zero value (no link address).
func (a LinkAddress) IsZero() bool { return a == LinkAddress{} }

// IsBroadcast reports whether a is the broadcast address.
func (a LinkAddress) IsBroadcast() bool { return a == BroadcastLinkAddress }

// IsMulticast reports whether the group bit (the least significant bit of the
// first octet, IEEE 802-2014 §8.2) is set. The broadcast address is multicast.
func (a LinkAddress) IsMulticast() bool { return a[0]&1 != 0 }

// IsUnicast reports whether a is a non-zero individual address.
func (a LinkAddress) IsUnicast() bool { return !a.IsZero() && !a.IsMulticast() }

// IsLocallyAdministered reports whether the U/L bit is set.
func (a LinkAddress) IsLocallyAdministered() bool { return a[0]&2 != 0 }

// String returns the address as six colon-separated lower-case hex octets.
func (a LinkAddress) String() string {
	return string(a.AppendTo(make([]byte, 0, 17)))
}

// AppendTo appends the text form of a to b and returns the extended slice.
func (a LinkAddress) AppendTo(b []byte) []byte {
	const hex = "0123456789abcdef"
	for i, o := range a {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[o>>4], hex[o&0xf])
	}
	return b
}

// MarshalText implements encoding.TextMarshaler.
func (a LinkAddress) MarshalText() ([]byte, error) { return a.AppendTo(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *LinkAddress) UnmarshalText(b []byte) error {
	v, err := ParseLinkAddress(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

var errLinkAddressSyntax = errors.New("want six hex octets separated by ':' or '-'")

// ParseLinkAddress parses "aa:bb:cc:dd:ee:ff" or "aa-bb-cc-dd-ee-ff".
func ParseLinkAddress(s string) (LinkAddress, error) {
	var a LinkAddress
	if len(s) != 17 {
		return a, &ParseError{Type: "link address", Input: s, Err: errLinkAddressSyntax}
	}
	for i := range a {
		if i > 0 {
			if sep := s[3*i-1]; sep != ':' && sep != '-' || sep != s[2] {
				return LinkAddress{}, &ParseError{Type: "link address", Input: s, Err: errLinkAddressSyntax}
			}
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return LinkAddress{}, &ParseError{Type: "link address", Input: s, Err: errLinkAddressSyntax}
		}
		a[i] = hi<<4 | lo
	}
	return a, nil
}

// MustParseLinkAddress is ParseLinkAddress for constants in tests and
// examples; it panics if s does not parse.
func MustParseLinkAddress(s string) LinkAddress {
	a, err := ParseLinkAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ParseError reports text that does not parse as a value of ustack's types.
// Its message quotes the input.
type ParseError struct {
	Type  string // what was being parsed, e.g. "link address"
	Input string
	Err   error
}

func (e *ParseError) Error() string {
	return "ustack: parsing " + e.Type + " " + strconv.Quote(e.Input) + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }
