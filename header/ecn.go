package header

// ECN codepoints (RFC 3168 §5): the two low bits of the IPv4 TOS byte and
// of the IPv6 Traffic Class, which IPv4.ECN and IPv6.ECN return.
const (
	// ECNNotECT marks a packet of a transport that does not use ECN.
	ECNNotECT uint8 = 0
	// ECNECT1 is ECT(1), an ECN-capable transport (RFC 3168 §5; L4S
	// uses it, RFC 9331).
	ECNECT1 uint8 = 1
	// ECNECT0 is ECT(0), the codepoint RFC 3168 §6.1.1 has TCP send.
	ECNECT0 uint8 = 2
	// ECNCE is Congestion Experienced, set by a router instead of
	// dropping an ECT packet (RFC 3168 §5).
	ECNCE uint8 = 3
	// ECNMask selects the ECN field of a TOS or Traffic Class byte.
	ECNMask uint8 = 3
)
