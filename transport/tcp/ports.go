package tcp

import (
	"net/netip"

	"github.com/ustack-go/ustack/stack"
)

// reserveListenLocked makes the endpoint's port reservation a listener's
// (stack.PortFlags.Listening): an ephemeral port at the wildcard if it has
// none, else its bound reservation marked, which fails with
// ErrAddressInUse if an overlapping reservation is listening already
// (Linux's inet_csk_listen_start checks the port again in LISTEN state).
// undo restores the reservation as it was.
func (e *endpoint) reserveListenLocked() (undo func(), err error) {
	pm := e.s.PortManager()
	if !e.bound {
		flags := stack.PortFlags{ReuseAddress: e.reuseAddr, LoadBalanced: e.reusePort, Listening: true}
		port, err := pm.ReservePort(e.netProtos(), ProtocolNumber, netip.Addr{}, 0, flags, e.deviceLocked(), netip.AddrPort{}, nil)
		if err != nil {
			return nil, err
		}
		e.bound = true
		e.res = reservation{netProtos: e.netProtoSet(), port: port, flags: flags, device: e.deviceLocked()}
		e.id.LocalPort = port
		return e.releasePortLocked, nil
	}
	r := &e.res
	from := r.flags
	to := from
	to.Listening = true
	if from == to {
		return func() {}, nil
	}
	if err := pm.ReplacePort(r.netProtos.slice(), ProtocolNumber, r.addr, r.port, from, to, r.device, r.dest); err != nil {
		return nil, err
	}
	r.flags = to
	return func() {
		if pm.ReplacePort(r.netProtos.slice(), ProtocolNumber, r.addr, r.port, to, from, r.device, r.dest) == nil {
			r.flags = from
		}
	}, nil
}

// unlistenPortLocked undoes reserveListenLocked's mark when the endpoint
// stops listening (Close, Shutdown): a socket that left LISTEN shares its
// port through SO_REUSEADDR again, as Linux's inet_bind_conflict looks at
// the state the other socket is in now.
func (e *endpoint) unlistenPortLocked() {
	r := &e.res
	if !e.bound || !r.flags.Listening {
		return
	}
	to := r.flags
	to.Listening = false
	if e.s.PortManager().ReplacePort(r.netProtos.slice(), ProtocolNumber, r.addr, r.port, r.flags, to, r.device, r.dest) == nil {
		r.flags = to
	}
}
