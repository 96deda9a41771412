package header

import "github.com/ustack-go/ustack/tcpip"

// parseError is a sentinel describing why bytes are not a valid header. It
// matches tcpip.ErrMalformed with errors.Is.
type parseError struct{ msg string }

func (e *parseError) Error() string { return "header: " + e.msg }
func (e *parseError) Unwrap() error { return tcpip.ErrMalformed }

// Errors returned by the Parse functions and option iterators. Each names
// one reason, so that the layer that parses can count it.
var (
	// ErrTruncated: the bytes end before the fixed header, or before the
	// length a field of the header declares.
	ErrTruncated error = &parseError{"truncated"}
	// ErrBadVersion: an IP version field that does not match.
	ErrBadVersion error = &parseError{"bad version"}
	// ErrBadHeaderLength: a header length field below the minimum or past
	// the end of the packet.
	ErrBadHeaderLength error = &parseError{"bad header length"}
	// ErrBadTotalLength: a total or payload length field that disagrees
	// with the header or with the bytes present.
	ErrBadTotalLength error = &parseError{"bad total length"}
	// ErrBadOption: a malformed option or extension header (a length that
	// runs past its area, a length too small for its kind).
	ErrBadOption error = &parseError{"malformed option"}
	// ErrUnsupported: a well-formed header of a kind this package does not
	// handle (an ARP hardware type other than Ethernet, say).
	ErrUnsupported error = &parseError{"unsupported format"}
)
