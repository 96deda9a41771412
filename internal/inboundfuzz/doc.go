// Package inboundfuzz holds the fuzz target of the whole inbound path: random
// frames into a stack with IPv4, ARP, UDP, ICMP echo, raw and packet
// endpoints open (DESIGN.md principle 9). It has no code of its own; see
// inbound_test.go.
package inboundfuzz
