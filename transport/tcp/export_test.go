package tcp

import "github.com/ustack-go/ustack/stack"

// DisableTLP turns tail loss probes (RFC 8985 §7) off on s's TCP, for
// tests of the retransmission timeout alone.
func DisableTLP(s *stack.Stack) {
	s.TransportProtocolInstance(ProtocolNumber).(*protocol).tlpOff.Store(true)
}
