package tcp

import (
	"reflect"

	"github.com/ustack-go/ustack/tcpip"
)

// HoldsRecoveryState reports whether ep, a TCP endpoint, has allocated its
// endpointRecovery (for tests of the idle footprint).
func HoldsRecoveryState(ep tcpip.Endpoint) bool {
	e := ep.(*endpoint)
	e.lock()
	defer e.unlock()
	return e.endpointRecovery != nil
}

// LazyStateHeld returns the names of the parts of ep, a TCP endpoint, that
// are allocated when first needed and that it holds: "recovery"
// (endpointRecovery), "extra" (endpointExtra), "backlog" (backlogQueue)
// and "options" (an endpointOpts of its own rather than the protocol's
// defaults), for tests of the idle footprint.
func LazyStateHeld(ep tcpip.Endpoint) []string {
	e := ep.(*endpoint)
	e.lock()
	defer e.unlock()
	var held []string
	if e.endpointRecovery != nil {
		held = append(held, "recovery")
	}
	if e.extra != nil {
		held = append(held, "extra")
	}
	e.bmu.Lock()
	if e.bq != nil {
		held = append(held, "backlog")
	}
	e.bmu.Unlock()
	e.p.mu.Lock()
	if e.endpointOpts != e.p.defaultOpts {
		held = append(held, "options")
	}
	e.p.mu.Unlock()
	return held
}

// EndpointSize is the size of the endpoint struct, in bytes.
var EndpointSize = reflect.TypeFor[endpoint]().Size()
