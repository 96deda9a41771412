package tcp

import "github.com/ustack-go/ustack/tcpip"

// HoldsRecoveryState reports whether ep, a TCP endpoint, has allocated its
// endpointRecovery (for tests of the idle footprint).
func HoldsRecoveryState(ep tcpip.Endpoint) bool {
	e := ep.(*endpoint)
	e.lock()
	defer e.unlock()
	return e.endpointRecovery != nil
}
