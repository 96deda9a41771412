// Package header holds ustack's wire formats: zero-copy views over packet
// bytes with accessor methods, a Fields struct per format for encoding, and
// the Internet checksum.
//
// # The validity contract
//
// Each view is a named byte slice (type IPv4 []byte, …). A view obtained
// from its Parse function (ParseIPv4, ParseTCP, …) has passed every length
// check its accessors rely on: after Parse returns a nil error, no accessor
// of that view panics, whatever the bytes are. Parse functions never panic
// either; on bad input they return one of the sentinel errors of this
// package (ErrTruncated, ErrBadHeaderLength, …), all of which match
// tcpip.ErrMalformed with errors.Is, so that each layer can count the drop by
// its reason. Converting an unchecked []byte to a view with a type
// conversion skips the check and is only for bytes the caller has validated
// or built itself.
//
// Parse checks structure, not semantics: it does not verify checksums (see
// the Checksum methods) or decide whether an address is acceptable. Options
// and extension headers are walked by iterators whose Next method returns
// false at the end or on malformed input (then Err reports it); iterating
// never panics.
//
// Encoding writes into a caller-provided slice, normally the headroom of a
// packet buffer: Fields.Encode(b) writes the header at the start of b, which
// must be at least the header's size (a short b is a programming error and
// panics). Neither parsing nor encoding allocates.
//
// Multi-byte fields are in network byte order on the wire; accessors return
// host values. The package imports only tcpip and seqnum (for TCP sequence
// numbers), both leaves.
package header
