// Package tcpip is the core vocabulary of ustack: protocol numbers, NIC
// identifiers, link addresses, protocol addresses and routes, the sentinel
// errors every layer returns, the Clock that protocol code uses instead of the
// wall clock, and the Stats tree of counters.
//
// It imports nothing from the rest of ustack; every other package imports it.
//
// Addresses are net/netip values throughout. The zero netip.Addr means "no
// address" (unspecified by the caller), the zero LinkAddress means "no link
// address" (a TUN device or loopback), and the zero NICID means "any NIC".
package tcpip
