package udp

import (
	"net/netip"

	"github.com/ustack-go/ustack/tcpip"
)

// SetSockOpt implements tcpip.Endpoint. Options are the typed values of
// package tcpip; unknown ones give tcpip.ErrUnknownProtocolOption.
func (e *endpoint) SetSockOpt(opt any) error {
	switch v := opt.(type) {
	case tcpip.AddMembershipOption:
		return e.joinGroup(tcpip.MembershipOption(v))
	case tcpip.RemoveMembershipOption:
		return e.leaveGroup(tcpip.MembershipOption(v))
	case tcpip.BindToDeviceOption:
		return e.setBindToDevice(tcpip.NICID(v))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sock.SetSockOpt(opt) {
		if _, ok := opt.(tcpip.SendBufferSizeOption); ok {
			// Linux's sock_setsockopt calls sk_write_space after
			// SO_SNDBUF: a larger buffer may make room for a
			// waiting writer.
			e.sndbuf.Store(int64(e.sock.SndBufSize))
			e.waitQueue.Notify(tcpip.EventOut)
		}
		return nil
	}
	switch v := opt.(type) {
	case tcpip.ReusePortOption:
		e.reusePort = bool(v)
	case tcpip.NoChecksumOption:
		e.noChecksum = bool(v)
	case tcpip.V6OnlyOption:
		// Linux's do_ipv6_setsockopt: IPV6_V6ONLY only for IPv6
		// sockets that have no port yet (EINVAL otherwise).
		if e.netProto != tcpip.IPv6ProtocolNumber {
			return tcpip.ErrUnknownProtocolOption
		}
		if e.state != stateInitial {
			return tcpip.ErrInvalidEndpointState
		}
		e.v6only = bool(v)
	case tcpip.MulticastTTLOption:
		e.mcastTTL = uint8(v)
	case tcpip.MulticastLoopOption:
		e.mcastLoop = bool(v)
	case tcpip.MulticastInterfaceOption:
		return e.setMulticastInterfaceLocked(v)
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// GetSockOpt implements tcpip.Endpoint: opt is a pointer to one of the
// typed option values.
func (e *endpoint) GetSockOpt(opt any) error {
	if v, ok := opt.(*tcpip.SendQueueSizeOption); ok {
		// Linux's udp_ioctl(SIOCOUTQ): the bytes charged to the send
		// buffer for datagrams not yet paid back (see Write).
		*v = tcpip.SendQueueSizeOption(e.wmem.Load())
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sock.GetSockOpt(opt) {
		return nil
	}
	switch v := opt.(type) {
	case *tcpip.ReusePortOption:
		*v = tcpip.ReusePortOption(e.reusePort)
	case *tcpip.NoChecksumOption:
		*v = tcpip.NoChecksumOption(e.noChecksum)
	case *tcpip.V6OnlyOption:
		if e.netProto != tcpip.IPv6ProtocolNumber {
			return tcpip.ErrUnknownProtocolOption
		}
		*v = tcpip.V6OnlyOption(e.v6only)
	case *tcpip.MulticastTTLOption:
		*v = tcpip.MulticastTTLOption(e.mcastTTL)
	case *tcpip.MulticastLoopOption:
		*v = tcpip.MulticastLoopOption(e.mcastLoop)
	case *tcpip.MulticastInterfaceOption:
		*v = tcpip.MulticastInterfaceOption{NIC: e.mcastNIC, InterfaceAddr: e.mcastAddr}
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// setBindToDevice sets SO_BINDTODEVICE. On a bound or connected endpoint
// the demultiplexer entry moves to the new device at once (Linux rehashes
// the socket); the port reservation keeps the device it was made with.
func (e *endpoint) setBindToDevice(id tcpip.NICID) error {
	if id != 0 && !e.s.HasNIC(id) {
		return tcpip.ErrUnknownDevice
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state {
	case stateClosed:
		return tcpip.ErrInvalidEndpointState
	case stateInitial:
		e.sock.BindToDevice = id
		return nil
	}
	old := e.sock.BindToDevice
	e.sock.BindToDevice = id
	reg := e.reg
	reg.device = e.sock.Device()
	if reg.device == e.reg.device {
		return nil
	}
	if err := e.s.RegisterTransportEndpoint(reg.netProtos, ProtocolNumber, reg.id, e, reg.flags, reg.device); err != nil {
		e.sock.BindToDevice = old
		return err
	}
	e.unregisterLocked()
	e.reg = reg
	// A cached route out of another NIC no longer applies.
	if e.route != nil && reg.device != 0 && e.route.NIC != reg.device {
		r, err := e.findRouteLocked(reg.device, e.remote.Addr(), e.connNetProto)
		if err != nil {
			e.route = nil
		} else {
			e.route = r
		}
	}
	return nil
}

// setMulticastInterfaceLocked sets IP_MULTICAST_IF: the NIC, or the NIC
// owning InterfaceAddr, multicast datagrams leave by. The zero value
// resets it.
func (e *endpoint) setMulticastInterfaceLocked(v tcpip.MulticastInterfaceOption) error {
	nic, addr := v.NIC, v.InterfaceAddr.Unmap()
	if addr.IsUnspecified() {
		addr = netip.Addr{}
	}
	if addr.IsValid() {
		owner := e.s.CheckLocalAddress(nic, tcpip.NetworkProtocolFor(addr), addr)
		if owner == 0 {
			return tcpip.ErrBadLocalAddress
		}
		nic = owner
	} else if nic != 0 && !e.s.HasNIC(nic) {
		return tcpip.ErrUnknownDevice
	}
	if nic != 0 && e.sock.BindToDevice != 0 && nic != e.sock.BindToDevice {
		return tcpip.ErrInvalidArgument
	}
	e.mcastNIC, e.mcastAddr = nic, addr
	return nil
}

// groupNIC returns the NIC a membership option names: its NIC, the NIC
// owning its interface address, or the NIC the route to the group takes
// (Linux's ip_mc_find_dev; ENODEV when there is none).
func (e *endpoint) groupNIC(m tcpip.MembershipOption, group netip.Addr, np tcpip.NetworkProtocolNumber) (tcpip.NICID, error) {
	if m.NIC != 0 {
		if !e.s.HasNIC(m.NIC) {
			return 0, tcpip.ErrUnknownDevice
		}
		return m.NIC, nil
	}
	if a := m.InterfaceAddr.Unmap(); a.IsValid() && !a.IsUnspecified() {
		if id := e.s.CheckLocalAddress(0, tcpip.NetworkProtocolFor(a), a); id != 0 {
			return id, nil
		}
		return 0, tcpip.ErrUnknownDevice
	}
	r, err := e.s.FindRoute(0, netip.Addr{}, group, np, false /* multicastLoop */)
	if err != nil {
		return 0, tcpip.ErrUnknownDevice
	}
	return r.NIC, nil
}

// membershipGroup validates a membership option's group for the
// endpoint's family.
func (e *endpoint) membershipGroup(m tcpip.MembershipOption) (netip.Addr, tcpip.NetworkProtocolNumber, error) {
	g := m.MulticastAddr.WithZone("")
	if e.netProto == tcpip.IPv4ProtocolNumber || g.Is4In6() {
		g = g.Unmap()
	}
	if !g.IsMulticast() {
		return netip.Addr{}, 0, tcpip.ErrInvalidArgument
	}
	np := tcpip.NetworkProtocolFor(g)
	if e.netProto == tcpip.IPv4ProtocolNumber && np != tcpip.IPv4ProtocolNumber {
		return netip.Addr{}, 0, tcpip.ErrAddressFamily
	}
	return g, np, nil
}

// joinGroup implements AddMembershipOption: the NIC joins the group (the
// network protocol reports it: IGMP, RFC 3376; MLD, RFC 3810) and the
// endpoint remembers it, to leave it on Close. Joining a group twice on
// one NIC gives tcpip.ErrAddressInUse and more than 20 groups
// tcpip.ErrNoBufferSpace, as in Linux.
func (e *endpoint) joinGroup(m tcpip.MembershipOption) error {
	g, np, err := e.membershipGroup(m)
	if err != nil {
		return err
	}
	nic, err := e.groupNIC(m, g, np)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == stateClosed {
		return tcpip.ErrInvalidEndpointState
	}
	for _, ms := range e.memberships {
		if ms.nic == nic && ms.group == g {
			return tcpip.ErrAddressInUse
		}
	}
	if len(e.memberships) >= maxMemberships {
		return tcpip.ErrNoBufferSpace
	}
	if err := e.s.JoinGroup(np, nic, g); err != nil {
		return err
	}
	e.memberships = append(e.memberships, membership{nic: nic, group: g})
	return nil
}

// leaveGroup implements RemoveMembershipOption; a group not joined through
// this endpoint gives tcpip.ErrAddressNotFound (Linux: EADDRNOTAVAIL).
func (e *endpoint) leaveGroup(m tcpip.MembershipOption) error {
	g, np, err := e.membershipGroup(m)
	if err != nil {
		return err
	}
	nic, err := e.groupNIC(m, g, np)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, ms := range e.memberships {
		if ms.nic == nic && ms.group == g {
			e.memberships = append(e.memberships[:i], e.memberships[i+1:]...)
			return e.s.LeaveGroup(np, nic, g)
		}
	}
	return tcpip.ErrAddressNotFound
}
